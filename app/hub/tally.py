"""What the server counts as it goes, for ``/metrics``: plain integers in dictionaries.

Counting happens where things happen (an admission, a delivered event, a goodbye), so it must
cost next to nothing there: one dictionary increment, never a lock nor a label lookup. The
metrics collector reads these at scrape time and turns them into Prometheus families.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from app.domain.events import Gateway, Kind
from app.domain.goodbye import Goodbye


@dataclass(slots=True)
class Tally:
    connections: Counter[Gateway] = field(default_factory=Counter)
    """Connections admitted, per door."""
    open: Counter[Gateway] = field(default_factory=Counter)
    """Connections in the room now, per door (kept as they come and go: counting them at every
    scrape or health check would walk every connection)."""
    refusals: Counter[Goodbye] = field(default_factory=Counter)
    """Connections refused at the door (full, too many from one address, restarting)."""
    events: Counter[Kind] = field(default_factory=Counter)
    """Public events delivered here in the room's order (messages, actions, joins, leaves, nicks)."""
    goodbyes: Counter[Goodbye] = field(default_factory=Counter)
    """Connections the server ended, per reason."""
    rate_limited: int = 0
    """Lines refused by flood control (a flooder cut for it counts as a goodbye too)."""
    refused_input: int = 0
    """Input refused outright: bad frames, over-long lines, surplus telnet negotiation, pings
    beyond the line budget (a client cut for it counts as a goodbye too)."""
