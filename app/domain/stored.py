"""Domain values kept by the moderation store: each one a compact JSON record of its fields."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Self


class Stored:
    """For a dataclass kept as a record; ``decoded`` turns JSON's types back into the fields' own."""

    __slots__ = ()

    def record(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))  # type: ignore[call-overload]

    @classmethod
    def read(cls, record: str) -> Self:
        """The value a ``record`` describes; ValueError, TypeError or KeyError if it describes none."""
        return cls(**cls.decoded(json.loads(record)))

    @classmethod
    def decoded(cls, data: dict[str, Any]) -> dict[str, Any]:
        return data
