"""The shape of ``app/``: imports only go downward (no circle, not even one made of imports under
``TYPE_CHECKING``), few modules at the root, and the protocols that keep the hub's imports downward
still describe what implements them."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any, Protocol

from hubfakes import make_hub

from app.config import Settings
from app.hub.contract import Desk, HubServices
from app.hub.core import Hub
from app.hub.desk import Moderation
from app.hub.standing import StandingDesk
from app.ops.metrics import Watched
from app.service import ChatService

APP = Path(__file__).resolve().parents[2] / "app"
MAX_AT_ROOT = 6
"""Modules directly in ``app/`` (``__init__`` and ``__main__`` included): the rest live in packages."""


def modules(app: Path) -> dict[str, Path]:
    """Every module under ``app``, by dotted name (a package by its own name)."""
    found = {}
    for path in app.rglob("*.py"):
        parts = path.relative_to(app.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ``app`` that ``name`` imports anywhere in its file, ``TYPE_CHECKING`` blocks and
    function bodies included (``from app.x import y`` counts ``app.x.y`` when that is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets += [base, *(f"{base}.{alias.name}" for alias in node.names)]
    found = set()
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name and not name.startswith(target + "."):  # a package's own parents
            found.add(target)
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def import_graph(app: Path) -> dict[str, set[str]]:
    known = modules(app)
    return {name: imported(name, path, known) for name, path in known.items()}


def between_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same imports between ``app``'s packages and root modules (``app.hub``, ``app.service``)."""
    top = {name: ".".join(name.split(".")[:2]) for name in graph}
    collapsed: dict[str, set[str]] = {part: set() for part in top.values()}
    for name, targets in graph.items():
        collapsed[top[name]] |= {top[target] for target in targets} - {top[name]}
    return collapsed


def test_no_import_circles() -> None:
    assert circles(import_graph(APP)) == []


def test_no_circles_between_packages() -> None:
    """Imports go down from package to package too: the hub above delivery, delivery above codecs."""
    assert circles(between_packages(import_graph(APP))) == []


def test_a_circle_under_type_checking_is_found(tmp_path: Path) -> None:
    """The check itself: a circle closed only by a type hint's import (or one in a function) is still
    a circle; and packages can import each other in a circle that no two modules close."""
    app = tmp_path / "app"
    (app / "hub").mkdir(parents=True)
    (app / "__init__.py").write_text('"""A package."""\n')
    (app / "hub" / "__init__.py").write_text('"""A package."""\n')
    (app / "hub" / "core.py").write_text("from app.hub import desk\n")
    (app / "hub" / "desk.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from app.hub.core import Hub\n"
    )
    (app / "fanout.py").write_text("from .laggards import Laggards\n")
    (app / "laggards.py").write_text("def f():\n    from app.fanout import Outbox\n")
    assert sorted(circles(import_graph(app))) == [["app.fanout", "app.laggards"], ["app.hub.core", "app.hub.desk"]]
    assert circles(between_packages(import_graph(app))) == [["app.fanout", "app.laggards"]]  # the hub's is inside it
    (app / "fanout.py").write_text("from app.hub.core import Hub\n")
    (app / "hub" / "presence.py").write_text("from app.fanout import Channel\n")
    assert circles(import_graph(app)) == [["app.hub.core", "app.hub.desk"]]
    assert circles(between_packages(import_graph(app))) == [["app.fanout", "app.hub"]]  # through two modules of the hub


def test_few_modules_at_the_root() -> None:
    at_root = sorted(path.name for path in APP.glob("*.py"))
    assert len(at_root) <= MAX_AT_ROOT, f"{len(at_root)} modules at app/'s root: {at_root}"


def members(protocol: type) -> tuple[set[str], set[str]]:
    """A protocol's declared attributes and its methods, its bases' included."""
    attributes: set[str] = set()
    methods: set[str] = set()
    for cls in protocol.__mro__:
        if cls is object or not getattr(cls, "_is_protocol", False) or cls.__module__ == "typing":
            continue
        attributes |= set(inspect.get_annotations(cls))
        methods |= {name for name, value in cls.__dict__.items() if inspect.isfunction(value) and name[0] != "_"}
    return attributes, methods


def conforms(protocol: type, instance: Any) -> list[str]:
    """What ``instance`` lacks of ``protocol``: attributes missing, methods missing or with other parameters."""
    attributes, methods = members(protocol)
    wrong = [f"no attribute {name}" for name in sorted(attributes) if not hasattr(instance, name)]
    for name in sorted(methods):
        wanted = list(inspect.signature(getattr(protocol, name)).parameters)[1:]
        have = getattr(instance, name, None)
        if have is None or list(inspect.signature(have).parameters) != wanted:
            wrong.append(f"method {name}{'' if have is None else inspect.signature(have)} (wanted {wanted})")
    return wrong


class _Told(Protocol):
    room: str

    def tell(self, client: object, event: object) -> None: ...


def test_a_missing_attribute_or_a_changed_method_is_found() -> None:
    """The check itself: what an implementation lost or renamed is named."""

    class Drifted:
        def tell(self, client: object, text: str) -> None: ...

    assert conforms(_Told, Drifted()) == [
        "no attribute room",
        "method tell(client: 'object', text: 'str') -> 'None' (wanted ['client', 'event'])",
    ]


def test_the_hub_and_its_desk_implement_the_protocols_their_parts_see() -> None:
    """The desk sees the hub, and its parts see the desk, through protocols (``app.hub.contract``):
    what those declare is what the real objects have."""
    hub = make_hub()
    assert conforms(HubServices, hub) == []
    assert conforms(Desk, hub.moderation) == []
    assert conforms(StandingDesk, hub.moderation) == []
    assert isinstance(hub, Hub) and isinstance(hub.moderation, Moderation)


def test_the_service_has_what_a_metrics_scrape_reads() -> None:
    assert conforms(Watched, ChatService(Settings())) == []
