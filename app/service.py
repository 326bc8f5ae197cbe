"""The chat service: builds the room, bus, hub and gateways from settings, and runs their life."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import time

from app.bus.base import Bus
from app.bus.claim import RoomClaim, RoomTaken
from app.bus.history import History, Ids
from app.bus.memory import InProcessBus
from app.bus.moderation import MemoryStore, ModerationStore, RedisModeration, SqliteModeration
from app.bus.redis import RedisBus
from app.bus.sqlite import SqliteStore, StoreError
from app.config import Settings
from app.delivery.fanout import Flusher
from app.delivery.laggards import Laggards, OutboxLimits
from app.domain.churn import ChurnGate
from app.domain.events import Gateway
from app.domain.flood import AllowancePolicy, Budgets, FloodPolicy
from app.domain.guesses import GuessPolicy
from app.domain.room import Room
from app.domain.rooms import DAY, RoomLimits, Rooms
from app.gateways.host_key import HostKeyError
from app.gateways.ssh import SshGateway
from app.gateways.tcp import TcpGateway
from app.gateways.tls import CertificateError, TlsGateway
from app.gateways.websocket import WebSocketGateway
from app.hub.core import Admission, Hub
from app.hub.desk import Policy
from app.hub.handshakes import HandshakeLimits
from app.ops import open_files
from app.ops.metrics import Metrics, MetricsAccess

log = logging.getLogger("app")


class StartupRefused(Exception):
    """The server must not start; the message (one line) says why and what to change."""


class ChatService:
    """Everything that lives for as long as the server runs."""

    def __init__(self, settings: Settings, bus: Bus | None = None) -> None:
        self.settings = settings
        self.bus = bus or _bus(settings)
        laggards = Laggards(OutboxLimits(max_bytes=settings.outbox_bytes))
        flood = FloodPolicy(settings.burst, settings.rate, settings.kick_after, paste_lines=settings.paste_lines)
        self.hub = Hub(
            Room(
                max_message=settings.max_message,
                flood=flood,
                rooms=Rooms(settings.default_room, _room_limits(settings)),
            ),
            self.bus,
            flood,
            Admission(settings.max_connections, settings.max_per_ip, settings.trusted_proxies),
            churn=ChurnGate(settings.churn_calm, settings.presence_window, crowd=settings.presence_crowd),
            laggards=laggards,
            moderation=(_moderation_store(settings), _moderation_policy(settings)),
            handshakes=HandshakeLimits(
                settings.max_handshakes,
                settings.max_handshakes_per_ip,
                {Gateway.SSH: settings.ssh_max_handshakes},
                settings.handshake_start,
            ),
            budgets=Budgets(
                AllowancePolicy(settings.room_burst, settings.room_rate / 60),
                AllowancePolicy(settings.replay_bytes, settings.replay_rate),
            ),
        )
        self.metrics = Metrics(settings.per_worker)
        self.metrics_access = MetricsAccess(settings.metrics_token, settings.metrics_allow)
        flusher = Flusher(timed=self.metrics.fanout.observe, after=laggards.turn_over)
        self.tcp = TcpGateway(self.hub, flusher, laggards, settings)
        self.websocket = WebSocketGateway(self.hub, flusher, laggards, settings)
        self.tls = None if settings.tls_port is None else TlsGateway(self.hub, self.tcp.channel, settings)
        self.ssh = (
            None if settings.ssh_port is None else SshGateway(self.hub, flusher, laggards, self.tcp.channel, settings)
        )
        self.doors = [Gateway.WEB, Gateway.TELNET]
        self.doors += [
            door for door, gateway in ((Gateway.TLS, self.tls), (Gateway.SSH, self.ssh)) if gateway is not None
        ]
        """The doors this server has (the web and telnet ones are always counted, open or not)."""
        self.claim = _claim(settings)
        self.started = time.monotonic()
        self.running = False
        self.metrics.watch(self)

    async def start(self) -> None:
        """Claim the room (without Redis), open the bus, then the TCP listener; another process
        on the same room or a port already taken refuses start-up (``StartupRefused``).
        Starting again is a no-op, so ``python -m app`` can start it ahead of the lifespan."""
        if self.running:
            return
        if self.claim is not None:
            try:
                self.claim.take()
            except RoomTaken as taken:
                raise StartupRefused(str(taken)) from None
        self.running = True
        ceiling = self._open_files()
        if self.settings.trusted_proxies.everyone:
            log.warning(
                "FORWARDED_ALLOW_IPS=* believes X-Forwarded-For from anyone: any client can claim any address"
                " and so slip past per-address limits."
                " Name the platform's proxy addresses instead (see docs/deploying.md)."
            )
        try:
            await self.bus.start(self.hub.deliver, self.hub)
        except StoreError as problem:
            raise StartupRefused(f"cannot use CHAT_DB={self.settings.db}: {problem}") from None
        self.hub.restore_rooms()
        await self.hub.moderation.load()
        self.hub.moderation.start_watching()
        if self.settings.tcp_port is not None:
            try:
                await self.tcp.start(
                    self.settings.host,
                    self.settings.tcp_port,
                    self.settings.tcp_reuse_port,
                    open_files.backlog(ceiling),
                )
            except OSError as problem:
                raise StartupRefused(
                    f"cannot listen for TCP chat on {self.settings.host}:{self.settings.tcp_port}: "
                    f"{os.strerror(problem.errno) if problem.errno else problem}"
                    " (set CHAT_TCP_PORT to another port, or to 'off')"
                ) from None
        if self.tls is not None:
            await self._start_tls(self.tls, open_files.backlog(ceiling))
        if self.ssh is not None:
            await self._start_ssh(self.ssh, open_files.backlog(ceiling))
        log.info("WebSocket path: %s", self.websocket.path.value)
        self.started = time.monotonic()

    async def _start_tls(self, tls: TlsGateway, backlog: int) -> None:
        settings = self.settings
        try:
            await tls.start(settings.host, settings.tls_port or 0, backlog)
        except CertificateError as problem:
            raise StartupRefused(f"cannot start the TLS door: {problem}") from None
        except OSError as problem:
            raise StartupRefused(
                f"cannot listen for TLS chat on {settings.host}:{settings.tls_port}: {problem.strerror or problem}"
                " (set CHAT_TLS_PORT to another port, or to 'off')"
            ) from None
        try:  # a renewed certificate is read on SIGHUP, as web servers do
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, tls.reload)
        except (RuntimeError, ValueError, NotImplementedError):
            log.warning("SIGHUP cannot reload the TLS certificate here (not the main thread)")

    async def _start_ssh(self, ssh: SshGateway, backlog: int) -> None:
        settings = self.settings
        try:
            await ssh.start(settings.host, settings.ssh_port or 0, backlog)
        except HostKeyError as problem:
            raise StartupRefused(str(problem)) from None
        except OSError as problem:
            raise StartupRefused(
                f"cannot listen for SSH chat on {settings.host}:{settings.ssh_port}: {problem.strerror or problem}"
                " (set CHAT_SSH_PORT to another port, or to 'off')"
            ) from None

    def _open_files(self) -> int:
        """Raise the open-file limit as far as allowed, and admit no more clients and handshakes
        than it holds."""
        ceiling, hard = open_files.raise_ceiling()
        pool = self.hub.handshakes
        pool.limits = dataclasses.replace(
            pool.limits, total=open_files.handshakes(ceiling, self.settings.max_handshakes)
        )
        ports = 1 + sum(door is not None for door in (self.settings.tcp_port, self.tls, self.ssh))  # 1: the web
        fits = open_files.connections(ceiling, open_files.listeners(ports, self.settings.host), pool.limits.total)
        wanted = self.settings.max_connections
        log.info(
            "open files: up to %d (hard limit %d), room for %d connections and %d handshakes",
            ceiling,
            hard,
            min(fits, wanted),
            pool.limits.total,
        )
        if fits < wanted:
            log.warning(
                "CHAT_MAX_CONNECTIONS=%d cannot be reached: the open-file limit of %d holds %d connections;"
                " more are refused as 'server full' (raise the hard limit: ulimit -Hn, systemd LimitNOFILE=)",
                wanted,
                ceiling,
                fits,
            )
            self.hub.admission = dataclasses.replace(self.hub.admission, max_connections=fits)
        return ceiling

    def begin_shutdown(self) -> None:
        """Stop accepting and tell every client the server is restarting (called on SIGTERM)."""
        if self.hub.closing:
            return
        log.info("shutting down: closing %d chat connections", len(self.hub.clients))
        self.tcp.stop_accepting()
        for door in (self.tls, self.ssh):
            if door is not None:
                door.stop_accepting()
        self.hub.shutdown()

    async def stop(self) -> None:
        self.begin_shutdown()
        await self.bus.stop()
        await self.hub.moderation.close()
        if self.claim is not None:
            self.claim.release()

    def health(self) -> dict[str, object]:
        counts = {door: count for door, count in self.hub.gateway_counts().items() if door in self.doors}
        problem = self.bus.problem
        history = self.bus.history
        return {
            "status": "stopping" if self.hub.closing else "degraded" if problem else "ok",
            **({"problem": problem} if problem else {}),
            "clients": {**counts, "total": sum(counts.values())},
            "uptime_s": round(time.monotonic() - self.started, 1),
            "history": {
                "last_id": self.bus.last_id,
                "persisted_id": self.bus.persisted_id,
                "messages": history.messages,
                "presence": history.presence,
                **_writer(self.bus),
            },
            "bus": {"engine": self.bus.engine, "degraded": self.bus.degraded},
        }


def _bus(settings: Settings) -> Bus:
    """The room shared through Redis when REDIS_URL is set; else the embedded one."""
    if settings.redis_url:
        return RedisBus(
            settings.redis_url,
            namespace=settings.room,
            history=_history(settings, Ids.ROOM),
            heartbeat=settings.redis_heartbeat,
            queue_limit=settings.redis_queue,
            max_rooms=settings.max_rooms,
        )
    return InProcessBus(_history(settings), _store(settings), settings.history_wait)


def _moderation_policy(settings: Settings) -> Policy:
    guessing = GuessPolicy(
        settings.guess_free,
        settings.guess_delay,
        settings.guess_max_delay,
        settings.guess_nick_free,
        settings.guess_remember_days,
    )
    return Policy(settings.operator_password, settings.nick_expiry, guessing)


def _room_limits(settings: Settings) -> RoomLimits:
    return RoomLimits(
        settings.max_rooms,
        settings.rooms_per_client,
        settings.rooms_per_address,
        settings.room_expiry * DAY,
        settings.guest_room_expiry * DAY,
    )


def _moderation_store(settings: Settings) -> ModerationStore:
    """Bans and registrations live where the room does: Redis when shared, else the history's file
    (in memory when history is)."""
    if settings.redis_url:
        return RedisModeration(settings.redis_url, settings.room)
    if _store(settings) is None:
        return MemoryStore()
    return SqliteModeration(settings.db)


def _history(settings: Settings, ids: Ids = Ids.SERVER) -> History:
    return History(settings.history, settings.presence_history, settings.room_history, settings.default_room, ids)


def _claim(settings: Settings) -> RoomClaim | None:
    """Without Redis, the room's history file is this process's alone (see ``app.bus.claim``)."""
    return RoomClaim(settings.db) if not settings.redis_url and _persisted(settings) else None


def _persisted(settings: Settings) -> bool:
    return settings.db not in ("", ":memory:") and settings.history > 0


def _store(settings: Settings) -> SqliteStore | None:
    """SQLite persistence for history, unless it is configured to live in memory only."""
    if not _persisted(settings):
        return None
    return SqliteStore(
        settings.db, settings.history, settings.presence_history, settings.room_history, settings.default_room
    )


def _writer(bus: Bus) -> dict[str, int]:
    """How far the history writer is behind (ids handed out, not yet on disk), when there is one."""
    store = getattr(bus, "store", None)
    if store is None:
        return {}
    return {"lag": store.lag, "lag_limit": store.lag_limit, "worst_lag": store.worst_lag}
