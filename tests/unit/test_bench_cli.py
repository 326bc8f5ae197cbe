"""The benchmark's command line and how it splits the work over processes."""

import pytest

from app.bench import cli, plan


def test_defaults_stay_on_loopback() -> None:
    options = cli.parse(["--tcp", "2"])
    assert options.target == "127.0.0.1"
    assert (options.tcp, options.ws, options.publishers) == (2, 0, 1)


def test_a_full_command_line() -> None:
    options = cli.parse(
        [
            "--target",
            "::1",
            "--port",
            "8080",
            "--tcp-port",
            "2627",
            "--ws-path",
            "/chat",
            "--tcp",
            "500",
            "--ws",
            "500",
            "--publishers",
            "10",
            "--rate",
            "400",
            "--duration",
            "3",
            "--connect-rate",
            "1000",
            "--procs",
            "3",
            "--server-pid",
            "42",
            "--json",
            "--no-progress",
        ]
    )
    assert options == plan.Options(
        target="::1", ports=(8080,), tcp_ports=(2627,), ws_path="/chat", tcp=500, ws=500, publishers=10, rate=400,
        duration=3, connect_rate=1000, procs=3, server_pid=42, json=True, progress=False,
    )  # fmt: skip


def test_more_processes_than_clients_are_not_started() -> None:
    assert cli.parse(["--ws", "2", "--procs", "8"]).procs == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "no clients"),
        (["--tcp", "2", "--publishers", "3"], "--publishers must be between 1 and"),
        (["--tcp", "2", "--publishers", "0"], "--publishers must be between 1 and"),
        (["--tcp", "2", "--rate", "0"], "must be positive"),
        (["--tcp", "-1"], "must not be negative"),
        (["--tcp", "two"], "is not a int"),
        (["--tcp", "1", "--ws-path", "ws"], "must start with /"),
    ],
)
def test_nonsense_is_a_usage_error(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.parse(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_idle_needs_no_publishers() -> None:
    options = cli.parse(["--tcp", "3", "--idle", "--publishers", "0"])
    assert options.idle and all(not w.publishers for w in plan.split(options))


def test_clients_are_dealt_to_processes_once_each_and_publishers_alternate_gateways() -> None:
    options = plan.Options(tcp=5, ws=4, publishers=4, procs=3)
    workers = plan.split(options)
    ids = sorted(i for w in workers for i in (*w.tcp_ids, *w.ws_ids))
    assert ids == list(range(9))
    assert all(i < 5 for w in workers for i in w.tcp_ids) and all(i >= 5 for w in workers for i in w.ws_ids)
    assert plan.publisher_clients(options) == [0, 5, 1, 6]
    owners = {client: w.index for w in workers for client in w.publishers}
    assert owners == {0: 0, 5: 2, 1: 1, 6: 0}
    assert sorted(n for w in workers for n in w.publishers.values()) == [0, 1, 2, 3]


def test_the_schedule_sends_rate_times_duration_messages_evenly() -> None:
    options = plan.Options(tcp=10, publishers=3, rate=100, duration=2)
    times = sorted(t for p in range(3) for t in plan.schedule(p, options))
    assert len(times) == 200
    assert times == [n / 100 for n in range(200)]


def test_clients_of_each_kind_take_several_servers_in_turn() -> None:
    options = cli.parse(["--tcp", "3", "--ws", "3", "--port", "8001", "8002", "--tcp-port", "2626", "2627"])
    assert [options.port_of(i) for i in range(6)] == [2626, 2627, 2626, 8001, 8002, 8001]
