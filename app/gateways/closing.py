"""Closing a connection on the server's initiative, when the peer may never read again.

``transport.close()`` hands the unsent bytes to the kernel and forgets the socket: if the peer
has stopped reading (the usual reason to drop it), the kernel keeps that orphaned socket and its
full buffer alive for minutes of zero-window probes. Half-closing instead keeps the socket ours:
the peer gets what is queued and then end-of-file, and if it stops taking it (nothing more
drained within the timeout) the connection is reset, which frees it at once. A peer that is
still reading gets on, and once its kernel has taken everything the socket is simply closed (a
reset would make that kernel throw away what its reader has yet to read): a reader dropped as
too slow still reads its goodbye.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import socket
import struct
import termios
from collections.abc import Callable

CLOSE_TIMEOUT = 5.0
"""How long a closing connection may go without draining anything before it is cut."""

SHUTDOWN_GRACE = 1.0
"""On shutdown, how long connections get to take their last words before they are cut: the
server must not wait out its graceful timeout for peers that stopped reading."""

_RESET_ON_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, drops the buffer


def close_softly(transport: asyncio.Transport, lost: Callable[[], bool], timeout: float = CLOSE_TIMEOUT) -> None:
    """Send what is queued and then end-of-file; reset the connection once it stops draining.

    ``lost`` tells whether the connection has already been closed (its file descriptor may have
    been reused, so the reset must not touch it then).
    """
    if transport.can_write_eof():
        transport.write_eof()
    else:
        transport.close()
    asyncio.get_running_loop().call_later(timeout, _reset_unless_draining, transport, lost, timeout, unsent(transport))


def _reset_unless_draining(transport: asyncio.Transport, lost: Callable[[], bool], timeout: float, before: int) -> None:
    if lost():
        return
    left = unsent(transport)
    if left == 0:  # its kernel has it all: nothing left to probe for, so a plain close costs nothing
        transport.close()
    elif left < before:  # it is still taking what we sent: give it time
        asyncio.get_running_loop().call_later(timeout, _reset_unless_draining, transport, lost, timeout, left)
    else:
        reset(transport, lost)


def unsent(transport: asyncio.Transport) -> int:
    """Bytes the peer has not yet taken: in the transport's buffer and the kernel's send queue."""
    queued = transport.get_write_buffer_size()
    sock = transport.get_extra_info("socket")
    if sock is not None:
        out = array.array("i", [0])
        with contextlib.suppress(OSError, ValueError):
            fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, out)  # SIOCOUTQ on a socket: not yet acknowledged
            queued += out[0]
    return queued


def reset(transport: asyncio.Transport, lost: Callable[[], bool]) -> None:
    """Cut the connection now, discarding what the peer has not taken (no-op once ``lost()``)."""
    if lost():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, ValueError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
    transport.abort()
