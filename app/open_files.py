"""The open-file ceiling: every connection is a file descriptor, so it bounds how many clients fit.

Most shells start processes with a soft ``RLIMIT_NOFILE`` of 1,024 although the hard limit allows
far more; like Go's runtime and nginx, the server raises the soft limit to the hard one at start.

What the ceiling allows is less than the ceiling itself. Admission must refuse the excess with
a "server full" goodbye *before* descriptors run out: a refusal needs one too, and when
``accept`` fails with EMFILE the event loop drops waiting connections without a word. So it keeps
back a fixed reserve (listening sockets, SQLite and its journal, Redis, the loop's own, log
files, page loads) plus room for one full accept backlog per listener: all the connections the
loop may accept in one go before the first of them is refused.
"""

from __future__ import annotations

import resource

FIXED_RESERVE = 64
"""Descriptors that are not connections: listeners, SQLite, Redis, the event loop, logs, HTTP."""

MAX_BACKLOG = 1024
"""The longest accept queue a listener is given (fewer with a low ceiling, see ``backlog``)."""

LISTENERS = 2
"""The web port and the TCP port."""


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


def connections(ceiling: int) -> int:
    """How many clients fit under the ceiling, with room left to refuse the next ones in words."""
    if ceiling == resource.RLIM_INFINITY:
        return 1 << 62
    return max(0, ceiling - FIXED_RESERVE - LISTENERS * backlog(ceiling))
