"""Thin adapters between sockets and the hub: the TCP listener and the WebSocket endpoint."""
