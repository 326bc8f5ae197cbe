"""A small TCP proxy that cuts connections idle for longer than ``idle`` seconds, as Fly.io's
proxy does after 60 s: data in either direction counts as activity, TCP keepalive does not."""

from __future__ import annotations

import selectors
import socket
import threading
import time

from support import free_port


class IdleCuttingProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``upstream`` on a thread; ``close`` stops it."""

    def __init__(self, upstream: int, idle: float) -> None:
        self.upstream = upstream
        self.idle = idle
        self.port = free_port()
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.listener.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.pairs: dict[socket.socket, tuple[socket.socket, list[float]]] = {}
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while self.running:
            for key, _ in self.selector.select(0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self.listener:
                    self._accept()
                elif sock in self.pairs:
                    self._forward(sock)
            now = time.monotonic()
            for sock, (_, active) in list(self.pairs.items()):
                if sock in self.pairs and now - active[0] > self.idle:
                    self.cuts += 1
                    self._close(sock)

    def _accept(self) -> None:
        client, _ = self.listener.accept()
        server = socket.create_connection(("127.0.0.1", self.upstream))
        active = [time.monotonic()]  # shared by both directions
        for a, b in ((client, server), (server, client)):
            a.setblocking(False)
            self.pairs[a] = (b, active)
            self.selector.register(a, selectors.EVENT_READ)

    def _forward(self, sock: socket.socket) -> None:
        peer, active = self.pairs[sock]
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._close(sock)
            return
        active[0] = time.monotonic()
        peer.setblocking(True)
        peer.sendall(data)
        peer.setblocking(False)

    def _close(self, sock: socket.socket) -> None:
        peer, _ = self.pairs.pop(sock)
        self.pairs.pop(peer, None)
        for s in (sock, peer):
            self.selector.unregister(s)
            s.close()

    def close(self) -> None:
        self.running = False
        self.thread.join(5)
        for sock in list(self.pairs):
            if sock in self.pairs:
                self._close(sock)
        self.selector.close()
        self.listener.close()
