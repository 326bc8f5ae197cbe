"""A WebSocket on the standard ASGI path: what any ASGI server (plain uvicorn, gunicorn with
uvicorn's worker) gives us, for when the server is not started with ``python -m app``.

The same hub client as ``WebConnection``, with the same channels, frames, close codes and size
limit: the channel's packed frames are read back and sent as messages by one task per
connection. The server does the pings, the close handshake and the frame parsing.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.frames import CloseCode, Opcode

from app.codecs.wsframe import close_frame, read_frames
from app.delivery.fanout import Channel, Codec, Outbox
from app.domain.events import Gateway
from app.domain.goodbye import Goodbye
from app.gateways.ws_connection import take_message
from app.hub.core import Hub


class AsgiWebConnection:
    """One WebSocket served through ASGI: a receiving loop, and a task that sends."""

    gateway = Gateway.WEB

    def __init__(
        self, hub: Hub, channel: Channel[str], address: str, budget: str | None, websocket: WebSocket, max_size: int
    ) -> None:
        self.hub = hub
        self.id = hub.next_id()
        self.address = address
        self.budget = budget
        self.websocket = websocket
        self.max_size = max_size
        self.outbox = Outbox(channel, self._queue, self._overflow)
        self.unsent: list[bytes] = []  # packed frames the sending task has yet to send
        self.ready = asyncio.Event()  # set when ``unsent`` has something
        self.closing = False  # our close frame is queued: queue nothing more
        self.reading = asyncio.Event()  # clear while the room waits for its readers (``pause_input``)
        self.reading.set()

    @property
    def codec(self) -> Codec[str]:
        return self.outbox.channel.codec

    # -- hub.Client --------------------------------------------------------------------------

    def send(self, chunk: bytes | str) -> None:
        self.outbox.push(chunk)  # type: ignore[arg-type]

    def close(self, goodbye: Goodbye, notice: bytes | str | None, detail: str = "") -> None:
        last = self.outbox.take()
        if isinstance(notice, str):
            last += b"".join(self.codec.pack([notice]))
        self._goodbye(last + close_frame(goodbye.code, goodbye.close_reason(detail)))

    def hide_input(self, hidden: bool) -> None:
        """The page's input is its own: nothing to ask of it."""

    def pause_input(self) -> None:
        """Take no more messages from the client until ``resume_input``."""
        self.reading.clear()

    def resume_input(self) -> None:
        self.reading.set()

    # -- the connection's life ---------------------------------------------------------------

    async def run(self) -> None:
        """Until the client is gone: take its messages, while a task sends what the room says."""
        sender = asyncio.create_task(self._send())
        try:
            await self._receive()
        finally:
            self.outbox.discard()
            self.hub.disconnect(self)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def refuse(self, frames: bytes) -> None:
        """Send a refused client why, and close (it never joins the room)."""
        self._goodbye(frames)
        await self._send()

    async def _receive(self) -> None:
        while True:
            await self.reading.wait()
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data: str | bytes = message["text"] if message.get("text") is not None else message.get("bytes") or b""
            if self.closing:
                continue
            if len(data) > self.max_size and len(data.encode() if isinstance(data, str) else data) > self.max_size:
                self._goodbye(close_frame(CloseCode.MESSAGE_TOO_BIG, f"message over {self.max_size} bytes"))
                self.hub.disconnect(self)
            else:
                take_message(self.hub, self, data)

    async def _send(self) -> None:
        """Send what the outbox wrote, frame by frame; the outbox holds the rest meanwhile."""
        try:
            while True:
                await self.ready.wait()
                self.ready.clear()
                unsent, self.unsent = b"".join(self.unsent), []
                for opcode, payload in read_frames(unsent):
                    if opcode is Opcode.CLOSE:
                        code = int.from_bytes(payload[:2])
                        await self.websocket.close(code, payload[2:].decode())
                        return
                    await self.websocket.send_text(payload.decode())
                if not self.closing:
                    self.outbox.writable()
        except (WebSocketDisconnect, RuntimeError):
            return  # the client is gone: the receiving loop ends the connection

    def _queue(self, data: bytes) -> None:
        """The outbox's writer: hand the bytes to the sending task, and have the outbox keep
        its own backlog until they are sent (a client that falls too far behind is dropped)."""
        if self.closing:
            return
        self.unsent.append(data)
        self.outbox.blocked()
        self.ready.set()

    def _goodbye(self, frames: bytes) -> None:
        """Queue the last frames (ending in a close frame); nothing is queued after them."""
        self.outbox.discard()
        if self.closing:
            return
        self.closing = True
        self.unsent.append(frames)
        self.ready.set()

    def _overflow(self) -> None:
        self.hub.drop(self, Goodbye.TOO_SLOW)  # type: ignore[arg-type]
