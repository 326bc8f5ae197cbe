"""The README's run command works as written: in a copy of the checkout it makes a virtual
environment and installs the package (built as a wheel, not linked to the source); the server it
starts then runs from any directory and serves the page, its assets and the WebSocket."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
from support import ROOT, ServerProcess

NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "*.egg-info", "__pycache__", "node_modules", "build", "chat.db*")


def readme_run_command() -> str:
    section = (ROOT / "README.md").read_text().split("## Run it", 1)[1]
    return re.findall(r"```sh\n(.+?)\n```", section, flags=re.S)[0]


def test_the_readmes_run_command_installs_a_server_that_runs_from_any_directory(
    tmp_path: Path, launch: Callable[..., ServerProcess]
) -> None:
    *install, run = readme_run_command().split(" && ")
    assert shlex.split(run) == [".venv/bin/python", "-m", "app"], run
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT, checkout, ignore=NOT_SOURCE)
    subprocess.run(" && ".join(install), shell=True, cwd=checkout, check=True, capture_output=True, timeout=300)
    env_dir = checkout / ".venv"
    python = env_dir / "bin" / "python"

    server = launch([str(python), "-m", "app"], cwd=Path("/"), CHAT_DB=str(tmp_path / "chat.db"))
    page = httpx.get(server.http_url + "/", timeout=5)
    assert page.status_code == 200 and "/static/chat.css?v=" in page.text
    script = httpx.get(server.http_url + "/static/js/main.js", timeout=5)
    assert script.status_code == 200 and "import" in script.text
    ann = server.web("ann")
    assert ann.welcome["nick"] == "ann"
    where = subprocess.run(
        [str(python), "-c", "import app.asgi; print(app.asgi.STATIC)"], capture_output=True, text=True, cwd="/"
    )
    assert where.stdout.strip().startswith(str(env_dir)), where.stdout  # its own assets, not the checkout's
