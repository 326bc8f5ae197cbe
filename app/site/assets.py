"""Static files with caching that matches how the page links them.

The page links every asset as ``/static/NAME?v=HASH`` (content hash), so a response for the
current hash can be cached forever. Anything else, such as an ES module imported by a relative
path without ``?v=``, must be revalidated on each use so a deploy never runs stale code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


class VersionedStaticFiles(StaticFiles):
    def __init__(self, *, directory: Path, versions: Mapping[str, str]) -> None:
        super().__init__(directory=directory)
        self.versions = versions

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            current = self.versions.get(Path(path).as_posix())
            versioned = current is not None and query.get("v") == [current]
            response.headers["Cache-Control"] = IMMUTABLE if versioned else REVALIDATE
        return response
