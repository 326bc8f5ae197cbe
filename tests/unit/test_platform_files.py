"""Every platform file parses and says what the code does: one start command, the ports and the
health path the server really uses, a stop signal it handles and time enough for its graceful
stop, the TCP door off where the platform cannot route it, and trusted proxies that are not '*'."""

from __future__ import annotations

import json
import signal
import tomllib

import platform_files as files
import uvicorn.server
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from starlette.routing import Route

from app.asgi import create_app
from app.config import OFF, Settings
from app.domain.addresses import Networks
from app.gateways.closing import SHUTDOWN_GRACE

DEFAULTS = Settings()
START = "python -m app"
HEALTH = "/healthz"


def test_the_health_path_is_a_route_of_the_app() -> None:
    app = create_app(Settings(db=":memory:"))
    assert HEALTH in [route.path for route in app.routes if isinstance(route, Route)]


def test_every_platform_starts_the_same_command() -> None:
    assert files.procfile_web() == START
    assert files.render_web()["startCommand"] == START
    assert files.railway()["deploy"]["startCommand"] == START
    assert " ".join(files.Dockerfile().cmd) == START


def test_every_platform_checks_the_health_path() -> None:
    assert files.render_web()["healthCheckPath"] == HEALTH
    assert files.railway()["deploy"]["healthcheckPath"] == HEALTH
    (check,) = files.fly()["http_service"]["checks"]
    assert (check["method"], check["path"]) == ("GET", HEALTH)


def env_of_render() -> dict[str, str]:
    return {item["key"]: str(item.get("value", "")) for item in files.render_web()["envVars"]}


def test_the_tcp_door_is_off_where_only_http_is_routed() -> None:
    assert files.app_json()["env"]["CHAT_TCP_PORT"]["value"] in OFF
    assert env_of_render()["CHAT_TCP_PORT"] in OFF
    for env in (files.app_json()["env"], {key: {"value": value} for key, value in env_of_render().items()}):
        assert Settings.from_env({key: spec.get("value", "") for key, spec in env.items()}).tcp_port is None


def test_every_heroku_setting_is_described() -> None:
    for name, spec in files.app_json()["env"].items():
        assert len(spec["description"]) > 40, name
    assert files.app_json()["formation"]["web"]["quantity"] == 1


def test_fly_serves_the_web_port_and_a_raw_tcp_door_with_proxy_protocol() -> None:
    fly = files.fly()
    settings = Settings.from_env(fly["env"])
    assert fly["http_service"]["internal_port"] == settings.port == DEFAULTS.port
    (tcp,) = fly["services"]
    assert tcp["protocol"] == "tcp"
    assert tcp["internal_port"] == settings.tcp_port == DEFAULTS.tcp_port
    assert [port["handlers"] for port in tcp["ports"]] == [["proxy_proto"]]
    assert settings.tcp_proxy_protocol  # the server expects the header Fly's handler sends
    assert 0 < settings.tcp_idle_ping < 60  # Fly's proxy cuts TCP connections idle for 60 s
    assert settings.db.startswith("/data/")  # where the image lets the server write


def test_fly_stops_with_a_signal_the_server_handles_and_waits_for_its_graceful_stop() -> None:
    fly = files.fly()
    stop = getattr(signal, fly["kill_signal"])
    assert stop in uvicorn.server.HANDLED_SIGNALS
    assert getattr(signal, files.Dockerfile().one("STOPSIGNAL")) == stop
    timeout = float(fly["kill_timeout"].removesuffix("s"))
    graceful = Settings.from_env(fly["env"]).graceful_timeout
    assert timeout >= graceful + SHUTDOWN_GRACE + 1


def test_trusted_proxies_are_named_never_everyone() -> None:
    values = [
        files.app_json()["env"]["FORWARDED_ALLOW_IPS"]["value"],
        env_of_render()["FORWARDED_ALLOW_IPS"],
        files.fly()["env"]["FORWARDED_ALLOW_IPS"],
    ]
    for value in values:
        proxies = Networks.parse(value)
        assert not proxies.everyone and proxies.lists("10.1.2.3") and not proxies.lists("203.0.113.5")
    assert len(set(values)) == 1


def test_the_image_exposes_the_ports_the_server_listens_on_and_runs_unprivileged() -> None:
    docker = files.Dockerfile()
    assert docker.one("EXPOSE").split() == [str(DEFAULTS.port), str(DEFAULTS.tcp_port)]
    assert docker.one("USER") not in ("root", "0")
    image = docker.one("FROM")
    assert image == f"python:{files.python_version()}-slim"
    assert files.railway()["build"] == {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile"}
    assert tomllib.loads((files.ROOT / "fly.toml").read_text())["build"]["dockerfile"] == "Dockerfile"


def test_the_image_installs_the_lock_the_buildpacks_install() -> None:
    assert files.Dockerfile().pip_install == ["install", "-r", "requirements.txt"]
    assert files.render_web()["buildCommand"] == "pip install -r requirements.txt"
    copied = {source for source, _ in files.Dockerfile().copies}
    assert copied == {"requirements.txt", "app", "static", "templates"}
    ignored = (files.ROOT / ".dockerignore").read_text().split()
    assert not copied & set(ignored)
    assert {".git", ".venv", "tests", "*.db"} <= set(ignored)


def test_the_python_version_is_one_the_project_supports() -> None:
    version = files.python_version()
    assert Version(version) in SpecifierSet(files.pyproject()["project"]["requires-python"])
    assert json.loads((files.ROOT / "app.json").read_text())["buildpacks"] == [{"url": "heroku/python"}]


def test_the_lock_pins_every_runtime_dependency_within_its_range() -> None:
    pins = files.lock()
    for requirement in files.runtime_requirements():
        name = files.normal(requirement.name)
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.txt: regenerate it (README)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.txt pins {name}=={pins[name]}, outside pyproject.toml's {requirement.specifier}"
        )
    for tool in ("pytest", "ruff", "playwright", "honcho"):
        assert tool not in pins, f"{tool} is a test tool: the lock holds what the server runs on"
