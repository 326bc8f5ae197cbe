"""Without Redis, a room lives in one process: this makes sure it is only one.

Several processes (``gunicorn -w 2``, ``uvicorn --workers 2``, a platform's ``WEB_CONCURRENCY``)
without ``REDIS_URL`` would be separate rooms writing one history file with clashing ids, and
users would land in one or the other by chance. So the process keeping a room's history holds
an exclusive lock on the file while it runs, and a second one refuses to start. The lock is
``flock``'s, which is apart from the locks SQLite takes, and goes with the process however it ends.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class RoomTaken(Exception):
    """Another process already keeps this room's history."""


class RoomClaim:
    """The exclusive hold of one history file by this process, until ``release``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).resolve()
        self._fd: int | None = None

    def take(self) -> None:
        """Hold the file, or raise ``RoomTaken``. A file that cannot even be opened is left to the
        history store, which says why it cannot use it."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RoomTaken(
                f"another process is already serving the room kept in {self.path}, and REDIS_URL is not set:"
                " several processes or workers (gunicorn -w, uvicorn --workers, WEB_CONCURRENCY) share one room"
                " only through Redis — set REDIS_URL, or run a single process"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
