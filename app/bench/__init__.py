"""``python -m app.bench``: a load generator for the chat server (TCP and WebSocket clients)."""
