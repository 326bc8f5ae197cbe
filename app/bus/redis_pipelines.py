"""Pipelines to a Redis or a Redis Cluster: one per node, each command's own outcome, and the
scripts they call by digest.

redis-py's cluster pipeline fails whole when one node does not answer, and returns some failures
(CLUSTERDOWN, a connection lost mid-reply) as a command's result. The bus needs to know, command
by command, whether Redis gave its verdict or must be asked again later: that is what this gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Iterable

from redis.asyncio import RedisCluster
from redis.exceptions import (
    ClusterDownError,
    NoScriptError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)

from app.bus.redis_connect import Client

UNREACHABLE = (RedisError, OSError)
"""Redis not answering, or answering with an error for a whole batch: either way the server is
degraded and the loops retry with backoff, rather than a task dying or spinning."""

PASSING = (ClusterDownError, TryAgainError, ReadOnlyError, NoScriptError)
"""Errors Redis answers with that say "not now" rather than "no": a cluster that is still
forming or failing over, a primary that just became a replica, a node that restarted and does
not know the scripts yet."""

Queue = Callable[[Client, int], None]
"""Adds command ``index`` to a pipeline."""


def unreachable(result: object) -> bool:
    """A command's result that says it should be sent again later (a shard down, a connection
    lost, a cluster not serving every slot), as opposed to Redis's verdict on it."""
    return isinstance(result, Exception) and (not isinstance(result, ResponseError) or isinstance(result, PASSING))


class Pipelines:
    """Commands for ``client``, sent as one pipeline per node, all at once."""

    def __init__(self, client: Client, scripts: Iterable[str]) -> None:
        self.client = client
        self._digests = dict.fromkeys(scripts, "")
        """Each script's text and its digest, as Redis reported it when it was loaded."""

    async def load_scripts(self) -> None:
        """Make every node know the scripts (SCRIPT LOAD goes to every primary of a cluster)."""
        for source in self._digests:
            self._digests[source] = await self.client.script_load(source)

    def call(self, pipe: Client, source: str, keys: list[str], args: Iterable[object]) -> None:
        """Queue a script by digest (redis-py's cluster pipeline takes EVALSHA only as a plain command)."""
        pipe.execute_command("EVALSHA", self._digests[source], len(keys), *keys, *args)

    async def scripted(self, keys: list[str], queue: Queue) -> list[object]:
        """``each``, loading the scripts and sending again if a node did not know them (it
        restarted); a node still without them answers "not now"."""
        results = await self.each(keys, queue)
        if any(isinstance(result, NoScriptError) for result in results):
            with contextlib.suppress(*UNREACHABLE):
                await self.load_scripts()
            results = await self.each(keys, queue)
        return results

    async def each(self, keys: list[str], queue: Queue) -> list[object]:
        """One pipeline per node of the ``keys``, command ``index`` for ``keys[index]``; each
        command's result: the reply, Redis's refusal, or why its node did not answer."""
        groups: dict[str, list[int]] = {}
        for index, key in enumerate(keys):
            groups.setdefault(self._node_of(key), []).append(index)
        results: list[object] = [None] * len(keys)

        async def send(indexes: list[int]) -> None:
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for index in indexes:
                        queue(pipe, index)
                    replies = await pipe.execute(raise_on_error=False)
            except UNREACHABLE as problem:
                replies = [problem] * len(indexes)
            for index, reply in zip(indexes, replies, strict=True):
                results[index] = reply

        await asyncio.gather(*(send(indexes) for indexes in groups.values()))
        return results

    def _node_of(self, key: str) -> str:
        """The name of the node serving ``key`` ("" on a single Redis, or when the cluster does not say)."""
        if not isinstance(self.client, RedisCluster):
            return ""
        try:
            node = self.client.get_node_from_key(key)
        except RedisError:
            return ""
        return node.name if node is not None else ""


class Backoff:
    """Exponential delays with jitter, from ``first`` up to ``most`` seconds."""

    def __init__(self, first: float = 0.1, most: float = 2.0) -> None:
        self.first, self.most = first, most
        self.delay = first

    def next(self) -> float:
        """The next delay, jittered."""
        delay = self.delay * random.uniform(0.8, 1.2)
        self.delay = min(self.delay * 2, self.most)
        return delay

    async def sleep(self) -> None:
        await asyncio.sleep(self.next())

    def reset(self) -> None:
        self.delay = self.first
