"""The WebSocket protocol as the server speaks it once a connection is open: pings, fragments,
close handshakes, protocol errors, and what an idle connection costs the server."""

from __future__ import annotations

import json
import struct

from raw import RawWebSocket, client_frame, rss_kib
from support import ServerProcess

PING, PONG, CLOSE, CONT = 0x9, 0xA, 0x8, 0x0


def say(text: str) -> bytes:
    return json.dumps({"type": "say", "text": text}).encode()


def next_frame(raw: RawWebSocket, opcode: int) -> bytes:
    """The payload of the next server frame with this opcode (events before it are skipped)."""
    while True:
        kind, payload = raw.recv_frame()
        if kind == opcode:
            return payload


def test_a_ping_is_answered_with_its_own_payload(server: ServerProcess) -> None:
    raw = RawWebSocket(server.port, "/ws?nick=pinger")
    raw.send_frame(b"are you there?", PING)
    assert next_frame(raw, PONG) == b"are you there?"


def test_a_message_in_fragments_dribbled_byte_by_byte_arrives_whole(server: ServerProcess) -> None:
    bob = server.tcp(nick="bob")
    raw = RawWebSocket(server.port, "/ws?nick=dribbler")
    data = say("in three pieces, café")
    wire = (
        client_frame(data[:5], fin=False)
        + client_frame(b"", PING)  # a control frame may come between the fragments
        + client_frame(data[5:20], CONT, fin=False)
        + client_frame(data[20:], CONT)
    )
    for byte in wire:
        raw.sock.sendall(bytes([byte]))
    assert bob.expect(lambda line: line.startswith("[dribbler]")) == "[dribbler] in three pieces, café"


def test_what_a_client_sends_the_moment_its_handshake_is_answered_reaches_the_room(server: ServerProcess) -> None:
    """No frame is lost between the 101 answer and the connection's own parser: the door hands
    the connection over in the same step as it answers."""
    bob = server.tcp(nick="bob")
    for attempt in range(5):
        raw = RawWebSocket(server.port, f"/ws?nick=eager{attempt}")
        assert raw.status == 101
        raw.sock.sendall(client_frame(say("first")) + client_frame(say("second"), fin=True))
        assert bob.expect(lambda line, n=attempt: line.startswith(f"[eager{n}]")) == f"[eager{attempt}] first"
        assert bob.expect(lambda line, n=attempt: line.startswith(f"[eager{n}]")) == f"[eager{attempt}] second"


def test_a_client_close_is_echoed_and_the_user_leaves(server: ServerProcess) -> None:
    watcher = server.web("watcher")
    raw = RawWebSocket(server.port, "/ws?nick=leaver")
    watcher.expect(type="join", nick="leaver")
    raw.sock.sendall(client_frame(struct.pack("!H", 1000) + b"bye", CLOSE))
    assert raw.close_frame() == (1000, "bye")
    assert raw.sock.recv(1) == b""  # and then the server hangs up
    assert watcher.expect(type="leave", nick="leaver")


def test_an_unmasked_frame_is_a_protocol_error_for_that_connection_only(server: ServerProcess) -> None:
    watcher = server.web("watcher")
    raw = RawWebSocket(server.port, "/ws?nick=unmasked")
    raw.sock.sendall(client_frame(say("no mask"), mask=b""))
    assert raw.close_frame() == (1002, "client frames must be masked")
    assert watcher.expect(type="leave", nick="unmasked")
    watcher.say("still here")
    assert watcher.expect(type="message")["text"] == "still here"


def test_an_idle_websocket_costs_the_server_a_few_kib(server: ServerProcess) -> None:
    """Thousands of people sit in a room doing nothing: each must cost little memory."""
    count = 400
    warmup = [RawWebSocket(server.port, f"/ws?nick=warm{i}") for i in range(20)]
    before = rss_kib(server.pid)
    idle = [RawWebSocket(server.port, f"/ws?nick=idle{i}") for i in range(count)]
    server.health()  # every connection is through its handshake and in the room
    per_connection = (rss_kib(server.pid) - before) / count
    assert server.health()["clients"]["web"] == len(idle) + len(warmup)
    assert per_connection <= 10, f"{per_connection:.1f} KiB per idle WebSocket"
