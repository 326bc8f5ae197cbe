"""The built distribution is complete: a wheel installed into a fresh virtual environment outside
the checkout, started from ``/``, serves the page, its assets and the WebSocket."""

from __future__ import annotations

import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path

import httpx
from support import ROOT, ServerProcess


def test_the_wheel_installed_elsewhere_runs_from_any_directory(
    tmp_path: Path, launch: Callable[..., ServerProcess]
) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("twodoor_chat-*.whl")
    env_dir = tmp_path / "fresh"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], check=True, capture_output=True)

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
