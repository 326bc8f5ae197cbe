"""Settings from the environment: defaults, switches, and bad values named clearly."""

from __future__ import annotations

import pytest

from app.config import Settings, SettingsError


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.port == 8000
    assert settings.tcp_port == 2626
    assert settings.redis_url is None
    assert settings.allowed_origins == ()
    assert settings.rate == 2.0


def test_empty_values_mean_default() -> None:
    assert Settings.from_env({"PORT": "", "CHAT_RATE": "  ", "REDIS_URL": ""}) == Settings()


def test_numbers_are_read() -> None:
    settings = Settings.from_env(
        {
            "PORT": "9001",
            "CHAT_TCP_PORT": "2727",
            "CHAT_MAX_MESSAGE": "50",
            "CHAT_OUTBOX_BYTES": "4096",
            "CHAT_BURST": "2",
            "CHAT_RATE": "0.5",
            "CHAT_KICK_AFTER": "3",
            "CHAT_MAX_CONNECTIONS": "10",
            "CHAT_MAX_PER_IP": "2",
            "CHAT_WS_PING": "1.5",
            "CHAT_LOG_LEVEL": "DEBUG",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        }
    )
    assert (settings.port, settings.tcp_port, settings.max_message) == (9001, 2727, 50)
    assert settings.outbox_bytes == 4096
    assert (settings.burst, settings.rate, settings.kick_after) == (2, 0.5, 3)
    assert (settings.max_connections, settings.max_per_ip) == (10, 2)
    assert settings.ws_ping_interval == 1.5
    assert settings.log_level == "debug"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize("value", ["off", "OFF", "0", "no", "false", "none", "disabled", "", " off "])
def test_tcp_port_can_be_switched_off(value: str) -> None:
    assert Settings.from_env({"CHAT_TCP_PORT": value}).tcp_port is None


def test_rate_zero_is_allowed_to_switch_flood_control_off() -> None:
    assert Settings.from_env({"CHAT_RATE": "0"}).rate == 0.0


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "http", "PORT='http' is not a valid whole number"),
        ("CHAT_TCP_PORT", "telnet", "CHAT_TCP_PORT='telnet' is not a valid whole number"),
        ("CHAT_TCP_PORT", "-5", "CHAT_TCP_PORT='-5' must be a number from 0 up"),
        ("CHAT_OUTBOX_BYTES", "1.5", "CHAT_OUTBOX_BYTES='1.5' is not a valid whole number"),
        ("CHAT_RATE", "fast", "CHAT_RATE='fast' is not a valid number"),
        ("CHAT_RATE", "-1", "CHAT_RATE='-1' must be a number from 0 up"),
        ("CHAT_MAX_PER_IP", "ten", "CHAT_MAX_PER_IP='ten'"),
        ("CHAT_WS_PING", "soon", "CHAT_WS_PING='soon'"),
    ],
)
def test_bad_numbers_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({name: value})
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("raw", "origins"),
    [
        ("", ()),
        ("https://chat.example", ("https://chat.example",)),
        ("https://chat.example/, http://127.0.0.1:8000 ,,", ("https://chat.example", "http://127.0.0.1:8000")),
        (" , ", ()),
    ],
)
def test_allowed_origins_are_a_trimmed_comma_separated_list(raw: str, origins: tuple[str, ...]) -> None:
    assert Settings.from_env({"CHAT_ALLOWED_ORIGINS": raw}).allowed_origins == origins


def test_the_tls_and_ssh_doors_are_off_unless_given_a_port() -> None:
    settings = Settings.from_env({})
    assert settings.tls_port is None and settings.ssh_port is None
    doors = Settings.from_env(
        {"CHAT_TLS_PORT": "2627", "CHAT_TLS_CERT": "c.pem", "CHAT_TLS_KEY": "k.pem", "CHAT_SSH_PORT": "2222"}
    )
    assert (doors.tls_port, doors.tls_cert, doors.tls_key, doors.ssh_port) == (2627, "c.pem", "k.pem", 2222)
    assert Settings.from_env({"CHAT_SSH_PORT": "off"}).ssh_port is None


def test_a_tls_port_without_its_certificate_is_named() -> None:
    with pytest.raises(SettingsError, match="CHAT_TLS_PORT needs CHAT_TLS_CERT and CHAT_TLS_KEY"):
        Settings.from_env({"CHAT_TLS_PORT": "2627", "CHAT_TLS_CERT": "c.pem"})


def test_processes_of_a_redis_room_share_the_tcp_port_unless_told_otherwise() -> None:
    assert Settings.from_env({}).tcp_reuse_port is False
    assert Settings.from_env({"REDIS_URL": "redis://localhost"}).tcp_reuse_port is True
    assert Settings.from_env({"REDIS_URL": "redis://localhost", "CHAT_TCP_REUSE_PORT": "off"}).tcp_reuse_port is False
    assert Settings.from_env({"CHAT_TCP_REUSE_PORT": "1"}).tcp_reuse_port is True


def test_guess_limits_are_settings() -> None:
    env = {
        "CHAT_GUESS_FREE": "3",
        "CHAT_GUESS_DELAY": "0.5",
        "CHAT_GUESS_MAX_DELAY": "60",
        "CHAT_GUESS_NICK_FREE": "9",
        "CHAT_GUESS_REMEMBER_DAYS": "7",
    }
    settings = Settings.from_env(env)
    assert (settings.guess_free, settings.guess_delay, settings.guess_max_delay) == (3, 0.5, 60.0)
    assert (settings.guess_nick_free, settings.guess_remember_days) == (9, 7.0)
    assert Settings.from_env({"CHAT_GUESS_FREE": "0"}).guess_free == 1  # one at least, or nobody proves anything
    with pytest.raises(SettingsError, match="CHAT_GUESS_DELAY"):
        Settings.from_env({"CHAT_GUESS_DELAY": "-1"})


def test_room_and_replay_budgets_are_read_and_a_zero_burst_means_the_default() -> None:
    settings = Settings.from_env(
        {
            "CHAT_ROOM_EXPIRY": "0.5",
            "CHAT_GUEST_ROOM_EXPIRY": "0.01",
            "CHAT_ROOMS_PER_ADDRESS": "3",
            "CHAT_ROOM_RATE": "0",
            "CHAT_REPLAY_RATE": "1000",
        }
    )
    assert (settings.room_expiry, settings.guest_room_expiry, settings.rooms_per_address) == (0.5, 0.01, 3)
    assert (settings.room_rate, settings.replay_rate) == (0.0, 1000), "a rate of 0 switches a budget off"
    zero = Settings.from_env({"CHAT_ROOM_BURST": "0", "CHAT_REPLAY_BYTES": "0"})
    assert (zero.room_burst, zero.replay_bytes) == (Settings().room_burst, Settings().replay_bytes)


@pytest.mark.parametrize(
    ("env", "own", "under_uvicorn"),
    [
        pytest.param({}, "0.0.0.0", "127.0.0.1", id="unset: uvicorn's default under uvicorn"),
        pytest.param({"HOST": "::"}, "::", "::", id="HOST"),
        pytest.param({"UVICORN_HOST": "10.0.0.5"}, "10.0.0.5", "10.0.0.5", id="UVICORN_HOST"),
        pytest.param({"HOST": "::1", "UVICORN_HOST": "10.0.0.5"}, "::1", "::1", id="HOST first"),
    ],
)
def test_the_doors_listen_on_host_else_uvicorns_host(env: dict[str, str], own: str, under_uvicorn: str) -> None:
    settings = Settings.from_env(env)
    assert settings.host == own and not settings.per_worker
    run_by_uvicorn = settings.under_another_server()
    assert run_by_uvicorn.host == under_uvicorn and run_by_uvicorn.per_worker


def test_the_quiet_grace_is_a_setting() -> None:
    assert Settings.from_env({}).quiet_grace == 1.0
    assert Settings.from_env({"CHAT_QUIET_GRACE": "0.1"}).quiet_grace == 0.1
    with pytest.raises(SettingsError, match="CHAT_QUIET_GRACE"):
        Settings.from_env({"CHAT_QUIET_GRACE": "soon"})
