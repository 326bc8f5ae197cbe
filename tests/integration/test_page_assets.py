"""The page and its assets over HTTP: a strict CSP it can live with, and cache-busted assets."""

from __future__ import annotations

import re

import httpx
from support import ServerProcess

ASSET = re.compile(r'(?:src|href)="(/static/[^"?]+)\?v=([0-9a-f]+)"')


def test_page_links_versioned_assets_and_nothing_inline(server: ServerProcess) -> None:
    page = httpx.get(server.http_url)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
    html = page.text
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None, "inline script"
    assert "<style" not in html and " style=" not in html, "inline style"
    assert "http://" not in html and "https://" not in html, "no third-party assets"
    assets = dict(ASSET.findall(html))
    assert {"/static/chat.css", "/static/js/main.js", "/static/favicon.svg"} <= assets.keys()
    assert f"{server.tcp_port}</code>" in html, "terminal users are told the TCP port"


def test_versioned_assets_are_cached_forever_and_the_rest_revalidated(server: ServerProcess) -> None:
    html = httpx.get(server.http_url).text
    path, version = ASSET.search(html).groups()
    current = httpx.get(f"{server.http_url}{path}?v={version}")
    assert current.status_code == 200
    assert current.headers["cache-control"] == "public, max-age=31536000, immutable"
    # A module imported by relative path (no ?v=) or a stale link must not be cached for good.
    for url in (f"{server.http_url}{path}", f"{server.http_url}{path}?v=stale", f"{server.http_url}/static/js/log.js"):
        response = httpx.get(url)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-cache"
    assert httpx.get(f"{server.http_url}/static/nope.js").status_code == 404
