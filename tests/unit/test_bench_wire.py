"""What the benchmark clients put on the wire and read back: markers, WebSocket frames and the
upgrade handshake."""

import json
import struct

import pytest

from app.bench import markers, wsframes
from app.codecs.wsframe import text_frame


def test_markers_are_found_wherever_they_sit() -> None:
    one, two = markers.marker(3, 17, 123), markers.marker(0, 0, 10**18)
    data = f"[guest12] {one}\r\n* someone joined\r\n[x] {two}\r\n".encode()
    assert list(markers.scan(data)) == [(3, 17, 123), (0, 0, 10**18)]


def test_a_cut_marker_is_not_read_as_a_shorter_one() -> None:
    cut = markers.marker(1, 2, 1_700_000_000_000_000_000)[:-3]
    assert list(markers.scan(cut.encode())) == []


def test_a_marker_split_across_reads_is_kept_until_its_line_is_complete() -> None:
    line = b"[a] " + markers.marker(1, 5, 42).encode() + b"\r\n"
    whole, partial = markers.complete_lines(b"[b] hi\r\n" + line[:12])
    assert whole == b"[b] hi\r\n"
    whole, partial = markers.complete_lines(partial + line[12:])
    assert list(markers.scan(whole)) == [(1, 5, 42)] and partial == b""


def test_the_web_message_is_the_pages_say_frame() -> None:
    assert json.loads(markers.ws_say("hello")) == {"type": "say", "text": "hello"}
    assert markers.tcp_line("hello") == b"hello\r\n"


def unmask(frame: bytes) -> tuple[int, bytes]:
    length, start = frame[1] & 0x7F, 2
    if length == 126:
        (length,), start = struct.unpack_from("!H", frame, 2), 4
    elif length == 127:
        (length,), start = struct.unpack_from("!Q", frame, 2), 10
    assert frame[1] & 0x80, "client frames must be masked"
    mask, payload = frame[start : start + 4], frame[start + 4 :]
    assert len(payload) == length
    return frame[0], bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536])
def test_client_frames_are_masked_and_unmask_to_the_payload(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    first, unmasked = unmask(wsframes.client_frame(payload))
    assert first == 0x80 | wsframes.OP_TEXT
    assert unmasked == payload


@pytest.mark.parametrize("size", [0, 125, 126, 70000])
def test_server_frames_parse_whole_and_wait_for_the_rest(size: int) -> None:
    payload = b"x" * size
    stream = bytearray(text_frame(payload) + b"\x89\x02hi" + text_frame(b"next")[:3])
    assert list(wsframes.parse_frames(stream)) == [(wsframes.OP_TEXT, payload), (wsframes.OP_PING, b"hi")]
    assert stream == text_frame(b"next")[:3]  # the incomplete frame stays in the buffer


def test_a_masked_server_frame_is_a_protocol_error() -> None:
    with pytest.raises(wsframes.ProtocolError):
        list(wsframes.parse_frames(bytearray(b"\x81\x81abcdx")))


def test_the_upgrade_is_checked_against_the_key() -> None:
    request, accept = wsframes.handshake("127.0.0.1", 8000, "/ws?nick=a")
    assert request.startswith(b"GET /ws?nick=a HTTP/1.1\r\n")
    key = next(line.split(b": ")[1] for line in request.split(b"\r\n") if line.startswith(b"Sec-WebSocket-Key"))
    assert accept == wsframes.accept_for(key)
    # RFC 6455's worked example
    assert wsframes.accept_for(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    wsframes.check_response(b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: " + accept, accept)
    with pytest.raises(wsframes.ProtocolError, match="403"):
        wsframes.check_response(b"HTTP/1.1 403 Forbidden\r\n", accept)
    with pytest.raises(wsframes.ProtocolError, match="Accept"):
        wsframes.check_response(b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: nope", accept)
