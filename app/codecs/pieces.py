"""Cutting what one loop turn packs into writes of bounded size, never inside a frame or a line."""

from __future__ import annotations


def runs(blobs: list[bytes], limit: int) -> list[bytes]:
    """Whole blobs (frames, lines) joined into pieces of at most ``limit`` bytes, in order; a blob
    larger than that alone. Never cut inside one: a client dropped between two pieces still
    gets whole lines and frames before its goodbye."""
    pieces: list[bytes] = []
    run: list[bytes] = []
    size = 0
    for blob in blobs:
        if run and size + len(blob) > limit:
            pieces.append(b"".join(run))
            run, size = [], 0
        run.append(blob)
        size += len(blob)
    pieces.append(b"".join(run))
    return pieces
