"""The doors: thin adapters between sockets and the hub (web, TCP, TLS and SSH)."""
