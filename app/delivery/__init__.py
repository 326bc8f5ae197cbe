"""Delivery: fan-out channels and outboxes, slow readers and back-pressure, each room's channels, and
history replayed to clients. Below the hub: it knows events and codecs, never rooms' rules."""
