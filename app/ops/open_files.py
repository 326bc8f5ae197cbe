"""The open-file ceiling: every connection is a file descriptor, so it bounds how many clients fit.

Most shells start processes with a soft ``RLIMIT_NOFILE`` of 1,024 although the hard limit allows
far more; like Go's runtime and nginx, the server raises the soft limit to the hard one at start.

What the ceiling allows is less than the ceiling itself. Admission must refuse the excess with
a "server full" goodbye *before* descriptors run out: a refusal needs one too, and when
``accept`` fails with EMFILE the event loop drops waiting connections without a word. So it keeps
back a fixed reserve (listening sockets, SQLite and its journal, Redis, the loop's own, log
files, page loads), room for one full accept backlog per listening socket (every door's, see
``listeners``): all the connections the loop may accept in one go before the first is refused,
and the share of connections still in their handshake (``handshakes``: TLS, SSH, HTTP heads,
PROXY headers, capped in ``app.hub.handshakes``), so a flood of them never takes a chat client's place.
"""

from __future__ import annotations

import resource

FIXED_RESERVE = 64
"""Descriptors that are not connections: listeners, SQLite, Redis, the event loop, logs, HTTP."""

MAX_BACKLOG = 1024
"""The longest accept queue a listener is given (fewer with a low ceiling, see ``backlog``)."""



def listeners(ports: int, host: str) -> int:
    """Listening sockets for ``ports`` doors on ``host``: one each, or one per address family
    when the host is left empty (every interface, IPv4 and IPv6)."""
    return ports * (1 if host else 2)


def raise_ceiling() -> tuple[int, int]:
    """Raise the soft open-file limit to the hard one (if allowed); return (soft, hard) after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # a sandbox may forbid it: keep what we have
            return soft, hard
        soft = hard
    return soft, hard


def backlog(ceiling: int) -> int:
    """A listener's accept queue: what one burst of accepts may take, kept small beside the ceiling."""
    return max(16, min(MAX_BACKLOG, ceiling // 16))


def handshakes(ceiling: int, wanted: int) -> int:
    """Unfinished handshakes at once: as many as ``wanted``, within an eighth of the ceiling."""
    if ceiling == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, ceiling // 8))


def connections(ceiling: int, sockets: int, handshaking: int) -> int:
    """How many chat clients fit under the ceiling with ``sockets`` listening and ``handshaking``
    connections in their handshake, with room left to refuse the next ones in words."""
    if ceiling == resource.RLIM_INFINITY:
        return 1 << 62
    return max(0, ceiling - FIXED_RESERVE - sockets * (1 + backlog(ceiling)) - handshaking)
