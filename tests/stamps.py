"""Checks shared by the integration tests on the JSON events public events carry."""

from __future__ import annotations

import re
from typing import Any

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def unstamped(event: dict[str, Any]) -> dict[str, Any]:
    """The event without ``id`` and ``ts``, after checking both look as the protocol says."""
    assert isinstance(event["id"], int) and event["id"] > 0, event
    assert TIMESTAMP.fullmatch(event["ts"]), event
    return {key: value for key, value in event.items() if key not in ("id", "ts")}
