"""The server's log: written to stdout by a thread of its own."""

from __future__ import annotations

import logging
import queue
import sys
from logging.handlers import QueueHandler, QueueListener


def log_from_a_thread(level: str) -> QueueListener:
    """The chat log (joins, leaves, messages) is written to stdout by a thread of its own: a slow
    log pipe then delays the log, never the event loop. Stop the listener to flush it."""
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    out = logging.StreamHandler(sys.stdout)
    out.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    listener = QueueListener(records, out)
    listener.start()
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(QueueHandler(records))
    return listener
