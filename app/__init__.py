"""A chat server with two front doors into one room: a web page over WebSocket and a TCP port."""
