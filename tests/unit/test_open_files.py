"""What the open-file ceiling holds: chat clients, after a reserve for every listening socket (with
its accept queue) and the share of unfinished handshakes."""

from __future__ import annotations

from app.ops import open_files


def test_every_listening_socket_and_the_handshakes_are_kept_out_of_the_clients_share() -> None:
    ceiling = 4096
    queue = open_files.backlog(ceiling)
    assert queue == 256
    two_doors = open_files.connections(ceiling, open_files.listeners(2, "0.0.0.0"), 0)
    four_doors = open_files.connections(ceiling, open_files.listeners(4, "0.0.0.0"), 0)
    assert two_doors - four_doors == 2 * (1 + queue)  # the TLS and SSH listeners, each with its queue
    assert open_files.listeners(4, "") == 8  # every interface: IPv4 and IPv6 each
    share = open_files.handshakes(ceiling, 2048)
    assert share == ceiling // 8
    assert four_doors - open_files.connections(ceiling, 4, share) == share
    assert open_files.handshakes(1 << 20, 2048) == 2048  # a high ceiling: as many as asked
