"""Settings, read once from the environment. Every default runs without any external service."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from app.domain.addresses import Networks
from app.domain.rooms import RoomError, room_name

OFF = {"", "0", "off", "no", "false", "none", "disabled"}

LOOPBACK = "127.0.0.1"
"""Where uvicorn and gunicorn listen unless told otherwise, and so the chat doors under them."""


class SettingsError(ValueError):
    """A setting in the environment has a value we cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "0.0.0.0"
    """Where the doors listen: HOST, else UVICORN_HOST (uvicorn's own documented variable)."""
    host_named: bool = False
    """HOST or UVICORN_HOST was set (see ``under_another_server``)."""
    per_worker: bool = False
    """Run by another server, which may run several worker processes (gunicorn ``-w``, uvicorn
    ``--workers``), each logging and answering ``/metrics`` for itself: both carry its pid."""
    port: int = 8000
    tcp_port: int | None = 2626
    redis_url: str | None = None
    room: str = "main"
    """The Redis key namespace (CHAT_ROOM, named before there were rooms): keys are ``chat:{<room>}:*``."""
    default_room: str = "#main"
    """Where everyone starts, and where a client that never mentions rooms stays."""
    rooms_per_client: int = 20
    max_rooms: int = 1000
    """Rooms this server keeps (occupied, or empty with their history)."""
    rooms_per_address: int = 20
    """Rooms made by one address (or registered identity) that may exist at once."""
    room_burst: int = 10
    """Rooms one connection, or one address, may make at once..."""
    room_rate: float = 6.0
    """...and then a minute (0: no limit)."""
    room_expiry: float = 30.0
    """Days an empty room with history must have been quiet before a new room may take its place."""
    guest_room_expiry: float = 1.0
    """The same, in days, for a room whose only speaker was the guest who made it."""
    replay_bytes: int = 8 << 20
    """Bytes of history one address may have replayed on connecting at once..."""
    replay_rate: int = 1 << 20
    """...and then a second (0: no limit)."""
    room_history: int = 100
    """Messages kept per room other than the default one (which keeps CHAT_HISTORY)."""
    redis_heartbeat: float = 3.0
    redis_queue: int = 200
    tcp_reuse_port: bool = False
    max_message: int = 2000
    ws_max_frame: int = 64 * 1024
    tcp_max_line: int = 8 * 1024
    outbox_bytes: int = 4 << 20
    burst: int = 5
    rate: float = 2.0
    kick_after: int = 30
    paste_lines: int = 20
    max_connections: int = 10_000
    max_per_ip: int = 16
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0
    graceful_timeout: int = 10
    http_head_timeout: float = 10.0
    handshake_start: float = 3.0
    """Seconds a new connection on any door has to send its first bytes (a request, a ClientHello,
    an SSH version line, a PROXY header)."""
    handshake_finish: float = 10.0
    """Seconds a TLS handshake or a PROXY header has to finish (HTTP heads and SSH logins have their own)."""
    max_handshakes: int = 2048
    """Unfinished handshakes at once, every door together (past it the idlest, oldest is shed)."""
    max_handshakes_per_ip: int = 16
    """Unfinished handshakes from one address (a loopback or proxy peer may hold half the pool)."""
    log_level: str = "info"
    history: int = 500
    presence_history: int = 100
    db: str = "chat.db"
    history_wait: float = 2.0
    """Longest an event waits for its write to the history file before it is delivered unsaved (seconds)."""
    web_history: int = 100
    tcp_replay: int = 20
    churn_calm: int = 10
    presence_window: float = 1.0
    """Seconds over which a room's joins and leaves past its allowance are folded into one summary."""
    presence_crowd: int = 100
    """People in a room up to which ``churn_calm`` notices a window go out one by one (fewer in a bigger room)."""
    forwarded_allow_ips: str = "127.0.0.1"
    """The proxies whose X-Forwarded-For is believed (uvicorn's setting, passed on as it is)."""
    trusted_proxies: Networks = field(default_factory=lambda: Networks.parse("127.0.0.1"))
    """The same, parsed: a connection whose own peer is one of them is never capped per address."""
    tcp_proxy_protocol: bool = False
    """Every TCP connection starts with a PROXY protocol header naming the client."""
    proxy_allow: Networks = field(default_factory=lambda: Networks.parse("127.0.0.1"))
    """The peers whose PROXY protocol headers are believed (CHAT_PROXY_ALLOW_IPS, else FORWARDED_ALLOW_IPS)."""
    tcp_idle_ping: float = 0.0
    """Longest silence on a TCP connection before an idle ping, in seconds (0: no pings)."""
    tcp_idle_line: bool = False
    """Clients that never spoke telnet get an empty line as their idle ping (else nothing)."""
    quiet_grace: float = 1.0
    """Seconds a line-door connection (TCP, TLS) that has said nothing waits before its welcome and
    join: a probe or health check that connects and hangs up within it is never shown as a person."""
    metrics_token: str | None = None
    """Bearer token that opens /metrics from anywhere."""
    metrics_allow: Networks = field(default_factory=lambda: Networks.parse("127.0.0.1,::1"))
    """Where /metrics is served without a token (to direct requests only)."""
    tls_port: int | None = None
    """The TLS door: the TCP door's line protocol inside TLS (off unless a port is given)."""
    tls_cert: str = ""
    """PEM certificate chain for the TLS door (read again on SIGHUP)."""
    tls_key: str = ""
    """PEM private key for the TLS door (read again on SIGHUP)."""
    ssh_port: int | None = None
    """The SSH door (off unless a port is given)."""
    ssh_host_key: str = "ssh_host_ed25519_key"
    """Where the SSH host key is kept; made on first start, so clients see the same key after a restart."""
    ssh_login_grace: float = 20.0
    """Seconds an SSH connection has from its first byte to a finished login."""
    ssh_max_handshakes: int = 32
    """SSH connections not yet logged in, at most, at once: a flood of half-open ones waits outside."""
    operator_password: str | None = None
    """What /oper takes: the password, or its hashed form from ``python -m app.passwords`` (None: no operators)."""
    nick_expiry: float = 90.0
    """Days a registered nick stays protected without being used (0: for ever)."""
    guess_free: int = 5
    """Password attempts a connection, or an address at /oper or at one nick, makes before it must wait."""
    guess_delay: float = 30.0
    """Seconds of the first wait past the free attempts; each next wait doubles."""
    guess_max_delay: float = 3600.0
    """The longest wait between password attempts (and how long a quiet count is remembered)."""
    guess_nick_free: int = 50
    """Attempts at one nick from every address together before each must wait (not its owner's, from an
    address that proved it within CHAT_GUESS_REMEMBER_DAYS)."""
    guess_remember_days: float = 30.0
    """Days an address that proved a nick is known as its owner's."""

    def under_another_server(self) -> Settings:
        """These settings for a server run by uvicorn or gunicorn, whose ``--host`` or ``--bind``
        no documented API lets the app read: unless HOST or UVICORN_HOST names an address, the
        chat's own doors (TCP, TLS, SSH) listen where those servers do by default, on loopback,
        rather than on every address while the web port is local (start-up logs a warning). Logs
        and metrics say which worker process speaks (``per_worker``)."""
        return replace(self, per_worker=True, host=self.host if self.host_named else LOOPBACK)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables (every one is in docs/settings.md)."""
        env = os.environ if env is None else env
        d = cls()

        def number(name: str, default: float, kind: type = int) -> float:
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise SettingsError(f"{name}={raw!r} is not a valid {'whole ' if kind is int else ''}number") from None
            if not 0 <= value < float("inf"):
                raise SettingsError(f"{name}={raw!r} must be a number from 0 up")
            return value

        def port(name: str, default: int | None) -> int | None:
            raw = env.get(name)
            if raw is None:
                return default
            return None if raw.strip().lower() in OFF else int(number(name, 0))

        tcp_port = port("CHAT_TCP_PORT", d.tcp_port)
        reuse_raw = env.get("CHAT_TCP_REUSE_PORT")
        redis_url = env.get("REDIS_URL") or None

        def networks(name: str, default: str) -> Networks:
            raw = env.get(name, default)
            try:
                return Networks.parse(raw)
            except ValueError as problem:
                raise SettingsError(f"{name}={raw!r}: {problem}") from None

        def flag(name: str) -> bool:
            return env.get(name, "").strip().lower() not in OFF

        metrics_allow = networks("CHAT_METRICS_ALLOW_IPS", "127.0.0.1,::1")
        if metrics_allow.everyone:
            raise SettingsError("CHAT_METRICS_ALLOW_IPS='*' would publish metrics to anyone: set CHAT_METRICS_TOKEN")
        default_room = env.get("CHAT_DEFAULT_ROOM", d.default_room)
        try:
            default_room = room_name(default_room)
        except RoomError as problem:
            raise SettingsError(f"CHAT_DEFAULT_ROOM={default_room!r}: {problem}") from None
        tls_port = port("CHAT_TLS_PORT", d.tls_port)
        tls_cert, tls_key = env.get("CHAT_TLS_CERT", "").strip(), env.get("CHAT_TLS_KEY", "").strip()
        if tls_port is not None and not (tls_cert and tls_key):
            raise SettingsError("CHAT_TLS_PORT needs CHAT_TLS_CERT and CHAT_TLS_KEY (PEM files)")
        origins = tuple(o.strip().rstrip("/") for o in env.get("CHAT_ALLOWED_ORIGINS", "").split(",") if o.strip())
        return cls(
            host=env.get("HOST") or env.get("UVICORN_HOST") or d.host,
            host_named=bool(env.get("HOST") or env.get("UVICORN_HOST")),
            port=int(number("PORT", d.port)),
            tcp_port=tcp_port,
            redis_url=redis_url,
            room=env.get("CHAT_ROOM", d.room).strip() or d.room,
            default_room=default_room,
            rooms_per_client=int(number("CHAT_ROOMS_PER_CLIENT", d.rooms_per_client)) or d.rooms_per_client,
            max_rooms=int(number("CHAT_MAX_ROOMS", d.max_rooms)) or d.max_rooms,
            rooms_per_address=int(number("CHAT_ROOMS_PER_ADDRESS", d.rooms_per_address)) or d.rooms_per_address,
            room_burst=int(number("CHAT_ROOM_BURST", d.room_burst)) or d.room_burst,
            room_rate=number("CHAT_ROOM_RATE", d.room_rate, float),
            room_expiry=number("CHAT_ROOM_EXPIRY", d.room_expiry, float),
            guest_room_expiry=number("CHAT_GUEST_ROOM_EXPIRY", d.guest_room_expiry, float),
            replay_bytes=int(number("CHAT_REPLAY_BYTES", d.replay_bytes)) or d.replay_bytes,
            replay_rate=int(number("CHAT_REPLAY_RATE", d.replay_rate)),
            room_history=int(number("CHAT_ROOM_HISTORY", d.room_history)),
            redis_heartbeat=number("CHAT_REDIS_HEARTBEAT", d.redis_heartbeat, float) or d.redis_heartbeat,
            redis_queue=int(number("CHAT_REDIS_QUEUE", d.redis_queue)),
            # With Redis every process is the same room, so by default they share the TCP port too.
            tcp_reuse_port=flag("CHAT_TCP_REUSE_PORT") if reuse_raw is not None else redis_url is not None,
            max_message=int(number("CHAT_MAX_MESSAGE", d.max_message)),
            ws_max_frame=int(number("CHAT_WS_MAX_FRAME", d.ws_max_frame)),
            tcp_max_line=int(number("CHAT_TCP_MAX_LINE", d.tcp_max_line)),
            outbox_bytes=int(number("CHAT_OUTBOX_BYTES", d.outbox_bytes)),
            burst=int(number("CHAT_BURST", d.burst)),
            rate=number("CHAT_RATE", d.rate, float),
            kick_after=int(number("CHAT_KICK_AFTER", d.kick_after)),
            paste_lines=int(number("CHAT_PASTE_LINES", d.paste_lines)),
            max_connections=int(number("CHAT_MAX_CONNECTIONS", d.max_connections)),
            max_per_ip=int(number("CHAT_MAX_PER_IP", d.max_per_ip)),
            allowed_origins=origins,
            ws_ping_interval=number("CHAT_WS_PING", d.ws_ping_interval, float),
            ws_ping_timeout=number("CHAT_WS_PING_TIMEOUT", d.ws_ping_timeout, float),
            graceful_timeout=int(number("CHAT_GRACEFUL_TIMEOUT", d.graceful_timeout)),
            http_head_timeout=number("CHAT_HTTP_HEAD_TIMEOUT", d.http_head_timeout, float) or d.http_head_timeout,
            handshake_start=number("CHAT_HANDSHAKE_START", d.handshake_start, float) or d.handshake_start,
            handshake_finish=number("CHAT_HANDSHAKE_FINISH", d.handshake_finish, float) or d.handshake_finish,
            max_handshakes=int(number("CHAT_MAX_HANDSHAKES", d.max_handshakes)) or d.max_handshakes,
            max_handshakes_per_ip=int(number("CHAT_MAX_HANDSHAKES_PER_IP", d.max_handshakes_per_ip))
            or d.max_handshakes_per_ip,
            log_level=env.get("CHAT_LOG_LEVEL", d.log_level).lower(),
            history=int(number("CHAT_HISTORY", d.history)),
            presence_history=int(number("CHAT_PRESENCE_HISTORY", d.presence_history)),
            db=env.get("CHAT_DB", d.db),
            history_wait=number("CHAT_HISTORY_WAIT", d.history_wait, float) or d.history_wait,
            web_history=int(number("CHAT_WEB_HISTORY", d.web_history)),
            tcp_replay=int(number("CHAT_TCP_REPLAY", d.tcp_replay)),
            churn_calm=int(number("CHAT_CHURN_CALM", d.churn_calm)),
            presence_window=number("CHAT_PRESENCE_WINDOW", d.presence_window, float) or d.presence_window,
            presence_crowd=int(number("CHAT_PRESENCE_CROWD", d.presence_crowd)),
            forwarded_allow_ips=env.get("FORWARDED_ALLOW_IPS", d.forwarded_allow_ips),
            trusted_proxies=networks("FORWARDED_ALLOW_IPS", d.forwarded_allow_ips),
            tcp_proxy_protocol=flag("CHAT_TCP_PROXY_PROTOCOL"),
            proxy_allow=networks(
                "CHAT_PROXY_ALLOW_IPS" if "CHAT_PROXY_ALLOW_IPS" in env else "FORWARDED_ALLOW_IPS",
                d.forwarded_allow_ips,
            ),
            tcp_idle_ping=number("CHAT_TCP_IDLE_PING", d.tcp_idle_ping, float),
            tcp_idle_line=flag("CHAT_TCP_IDLE_LINE"),
            quiet_grace=number("CHAT_QUIET_GRACE", d.quiet_grace, float),
            metrics_token=env.get("CHAT_METRICS_TOKEN", "").strip() or None,
            metrics_allow=metrics_allow,
            tls_port=tls_port,
            tls_cert=tls_cert,
            tls_key=tls_key,
            ssh_port=port("CHAT_SSH_PORT", d.ssh_port),
            ssh_host_key=env.get("CHAT_SSH_HOST_KEY", "").strip() or d.ssh_host_key,
            ssh_login_grace=number("CHAT_SSH_LOGIN_GRACE", d.ssh_login_grace, float) or d.ssh_login_grace,
            ssh_max_handshakes=int(number("CHAT_SSH_MAX_HANDSHAKES", d.ssh_max_handshakes)) or 1,
            operator_password=env.get("CHAT_OPERATOR_PASSWORD", "").strip() or None,
            nick_expiry=number("CHAT_NICK_EXPIRY", d.nick_expiry, float),
            guess_free=int(number("CHAT_GUESS_FREE", d.guess_free)) or 1,
            guess_delay=number("CHAT_GUESS_DELAY", d.guess_delay, float),
            guess_max_delay=number("CHAT_GUESS_MAX_DELAY", d.guess_max_delay, float),
            guess_nick_free=int(number("CHAT_GUESS_NICK_FREE", d.guess_nick_free)) or 1,
            guess_remember_days=number("CHAT_GUESS_REMEMBER_DAYS", d.guess_remember_days, float),
        )
