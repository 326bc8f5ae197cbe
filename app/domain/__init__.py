"""The chat domain: events, nicks, text hygiene, the room and flood control. No I/O in here."""
