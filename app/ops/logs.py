"""The server's log: written to stdout by a thread of its own."""

from __future__ import annotations

import logging
import queue
import re
import sys
from logging.handlers import QueueHandler, QueueListener

from app.domain.text import escaped


def log_from_a_thread(level: str, per_worker: bool = False) -> QueueListener:
    """The chat log (joins, leaves, messages) is written to stdout by a thread of its own: a slow
    log pipe then delays the log, never the event loop. Stop the listener to flush it.
    ``per_worker``: one of several worker processes writes it, so each line names its pid."""
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    out = logging.StreamHandler(sys.stdout)
    worker = "[%(process)d] " if per_worker else ""
    out.setFormatter(logging.Formatter(f"%(asctime)s {worker}%(levelname)s %(name)s: %(message)s"))
    listener = QueueListener(records, out)
    listener.start()
    root = logging.getLogger()
    root.setLevel(level)
    handler = QueueHandler(records)
    handler.addFilter(OneLine())
    root.addHandler(handler)
    return listener


class OneLine(logging.Filter):
    """Writes a record's message escaped (``app.domain.text.escaped``), so whatever a client sent
    that ends up in the log (a reason, a nick asked for, a request line) stays on its own line and
    cannot write to the terminal tailing the log; a traceback, added after the message, keeps its
    lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.isprintable():
            record.msg, record.args = escaped(message), None
        return True


class HideTokens(logging.Filter):
    """Keeps the token a page proves its nick with (``/ws?nick=ann&token=...``) out of the access
    log, where a web server writes every request's query string."""

    TOKEN = re.compile(r"(token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place, argument by argument: a formatter may expect the arguments it was given."""
        if isinstance(record.args, tuple):
            record.args = tuple(self._hidden(arg) if isinstance(arg, str) else arg for arg in record.args)
        if isinstance(record.msg, str):
            record.msg = self._hidden(record.msg)
        return True

    def _hidden(self, text: str) -> str:
        return self.TOKEN.sub(r"\1…", text) if "token=" in text else text
