"""The HTTP routes: the page (with its security headers and versioned assets), static files, health."""

from __future__ import annotations

import hashlib
import re

import httpx
from support import ROOT, ServerProcess


def test_page_is_served_with_csp_and_cache_busted_assets(server: ServerProcess) -> None:
    response = httpx.get(server.http_url + "/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assets = re.findall(r'(?:src|href)="(/static/[^"?]+)\?v=([0-9a-f]+)"', response.text)
    assert {path for path, _ in assets} >= {"/static/js/main.js", "/static/chat.css"}
    for path, version in assets:
        content = (ROOT / path.lstrip("/")).read_bytes()
        assert version == hashlib.sha256(content).hexdigest()[:10], f"{path} has a stale ?v="


def test_static_files_are_served(server: ServerProcess) -> None:
    script = httpx.get(server.http_url + "/static/js/main.js?v=whatever")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert script.content == (ROOT / "static" / "js" / "main.js").read_bytes()
    style = httpx.get(server.http_url + "/static/chat.css")
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")
    assert httpx.get(server.http_url + "/static/missing.js").status_code == 404


def test_healthz_reports_clients_per_gateway(server: ServerProcess) -> None:
    empty = httpx.get(server.http_url + "/healthz")
    assert empty.status_code == 200
    assert empty.headers["content-type"] == "application/json"
    assert empty.json()["status"] == "ok"
    assert empty.json()["clients"] == {"web": 0, "telnet": 0, "total": 0}
    users = [server.web("alice"), server.tcp(nick="bob"), server.tcp()]  # each is in the room once connected
    health = server.health()
    assert health["clients"] == {"web": 1, "telnet": 2, "total": 3}
    assert isinstance(health["uptime_s"], float) and health["uptime_s"] >= 0
    alice, bob, anon = users
    alice.close()
    bob.close()
    anon.expect("* alice left")
    anon.expect(lambda line: line.startswith("* bob left"))
    assert server.health()["clients"] == {"web": 0, "telnet": 1, "total": 1}
