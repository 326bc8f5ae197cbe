"""What a platform does with this repository, done here: install the lock into a fresh virtual
environment and start the image's command from the files the image copies; run the Procfile's
``web`` line under a Procfile runner with ``$PORT`` set. Each must serve the page, the WebSocket
and the health check (and, from the image, the TCP door)."""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import platform_files as files
from support import ServerProcess


def serves_the_chat(server: ServerProcess, tcp: bool = True) -> None:
    page = httpx.get(server.http_url + "/", timeout=5)
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert server.health()["status"] == "ok"
    web = server.web("deployed")
    if tcp:
        terminal = server.tcp(nick="terminal")
        terminal.send("hello from the terminal")
        assert web.expect(type="message", nick="terminal")["text"] == "hello from the terminal"
    else:
        web.say("hello")
        assert web.expect(type="message", nick="deployed")["self"] is True


def copy_as_the_image_does(target: Path) -> None:
    """The Dockerfile's COPY steps, leaving out what .dockerignore leaves out of the context."""
    ignored = [line for line in (files.ROOT / ".dockerignore").read_text().split() if not line.startswith("#")]

    def skip(directory: str, names: list[str]) -> set[str]:
        return {name for name in names if any(fnmatch.fnmatch(name, p.removeprefix("**/")) for p in ignored)}

    for source, destination in files.Dockerfile().copies:
        origin, there = files.ROOT / source, target / destination
        if origin.is_dir():
            shutil.copytree(origin, there, ignore=skip)
        else:
            shutil.copy(origin, there)


def test_the_lock_installs_into_a_fresh_venv_and_the_image_command_serves_from_it(tmp_path: Path, stopper) -> None:
    workdir, venv = tmp_path / "srv", tmp_path / "venv"
    workdir.mkdir()
    copy_as_the_image_does(workdir)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check", "-q"]
    done = subprocess.run(
        [*install, *files.Dockerfile().pip_install], cwd=workdir, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    server = ServerProcess(tmp_path, {**files.Dockerfile().env, "CHAT_DB": str(tmp_path / "image.db")})
    command = files.Dockerfile().cmd
    assert command[0] == "python"
    server.argv, server.cwd = [str(python), *command[1:]], workdir
    server.env.pop("PYTHONPATH", None)
    try:
        server.start(timeout=30)
        serves_the_chat(server)
    finally:
        stopper.stop(server)


def test_the_procfile_web_line_runs_under_honcho_with_port_set(tmp_path: Path, stopper) -> None:
    server = ServerProcess(tmp_path, {"CHAT_TCP_PORT": "off"})
    server.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{server.env.get('PATH', '')}"
    server.argv = [sys.executable, "-m", "honcho", "-f", str(files.ROOT / "Procfile"), "start", "web"]
    try:
        server.start(timeout=30)  # honcho hands the web process its $PORT: the server's own port
        serves_the_chat(server, tcp=False)
        assert f"Uvicorn running on http://127.0.0.1:{server.port}" in server.output()
    finally:
        stopper.stop(server)
