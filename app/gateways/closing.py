"""Closing a connection on the server's initiative, when the peer may never read again.

``transport.close()`` hands the unsent bytes to the kernel and forgets the socket: if the peer
has stopped reading (the usual reason to drop it), the kernel keeps that orphaned socket and its
full buffer alive for minutes of zero-window probes. Half-closing instead keeps the socket ours:
the peer gets what is queued and then end-of-file, and if it has not let go within the timeout,
the connection is reset, which frees it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable

CLOSE_TIMEOUT = 5.0
"""How long a closing connection may take to drain before it is cut."""

SHUTDOWN_GRACE = 1.0
"""On shutdown, how long connections get to take their last words before they are cut: the
server must not wait out its graceful timeout for peers that stopped reading."""

_RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, drops the buffer


def close_softly(transport: asyncio.Transport, lost: Callable[[], bool], timeout: float = CLOSE_TIMEOUT) -> None:
    """Send what is queued and then end-of-file; reset the connection if it is not gone in time.

    ``lost`` tells whether the connection has already been closed (its file descriptor may have
    been reused, so the reset must not touch it then).
    """
    if transport.can_write_eof():
        transport.write_eof()
    else:
        transport.close()
    asyncio.get_running_loop().call_later(timeout, reset, transport, lost)


def reset(transport: asyncio.Transport, lost: Callable[[], bool]) -> None:
    """Cut the connection now, discarding what the peer has not taken (no-op once ``lost()``)."""
    if lost():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, ValueError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
    transport.abort()
