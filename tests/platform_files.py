"""The repository's platform files, read the way the platforms read them."""

from __future__ import annotations

import json
import shlex
import tomllib
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name: command.strip() for name, _, command in (line.partition(":") for line in lines) if command}


def procfile_web() -> str:
    return procfile()["web"]


def app_json() -> dict[str, Any]:
    return json.loads((ROOT / "app.json").read_text())


def render_web() -> dict[str, Any]:
    services = yaml.safe_load((ROOT / "render.yaml").read_text())["services"]
    (web,) = [service for service in services if service["type"] == "web"]
    return web


def fly() -> dict[str, Any]:
    return tomllib.loads((ROOT / "fly.toml").read_text())


def railway() -> dict[str, Any]:
    return json.loads((ROOT / "railway.json").read_text())


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def python_version() -> str:
    return (ROOT / ".python-version").read_text().strip()


def lock() -> dict[str, str]:
    """requirements.txt: package name (normalised) to its pinned version."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"not pinned: {line}"
            pins[normal(requirement.name)] = specifier.version
    return pins


def runtime_requirements() -> list[Requirement]:
    return [Requirement(text) for text in pyproject()["project"]["dependencies"]]


def normal(name: str) -> str:
    """A package name as the index compares names (PEP 503)."""
    return name.lower().replace("_", "-").replace(".", "-")


class Dockerfile:
    """The instructions of the Dockerfile, continuation lines joined, comments left out."""

    def __init__(self) -> None:
        text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
        self.instructions: list[tuple[str, str]] = []
        for line in text.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                word, _, rest = line.strip().partition(" ")
                self.instructions.append((word.upper(), rest.strip()))

    def all(self, instruction: str) -> list[str]:
        return [rest for word, rest in self.instructions if word == instruction]

    def one(self, instruction: str) -> str:
        (rest,) = self.all(instruction)
        return rest

    @property
    def cmd(self) -> list[str]:
        return json.loads(self.one("CMD"))

    @property
    def pip_install(self) -> list[str]:
        """The arguments of the ``RUN pip install ...`` step."""
        (run,) = [shlex.split(rest) for rest in self.all("RUN") if rest.startswith("pip install")]
        return run[1:]

    @property
    def copies(self) -> list[tuple[str, str]]:
        return [tuple(shlex.split(rest)) for rest in self.all("COPY")]  # type: ignore[misc]

    @property
    def env(self) -> dict[str, str]:
        pairs: dict[str, str] = {}
        for rest in self.all("ENV"):
            pairs.update(item.split("=", 1) for item in shlex.split(rest))
        return pairs
