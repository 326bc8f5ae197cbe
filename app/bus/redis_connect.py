"""Connecting to Redis, whether ``REDIS_URL`` names a single server or any node of a Redis Cluster:
the server itself says which (``INFO cluster``), so nothing else needs configuring."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

Client = Redis | RedisCluster


async def connect(url: str, retries: int = 1) -> Client:
    """A client for ``url``: a cluster client when the node it names runs in cluster mode.
    Commands get ``retries`` immediate retries on a fresh connection (a pooled one may be stale
    after a Redis restart); beyond that the caller retries, with backoff."""
    probe = _single(url, retries)
    try:
        info = await probe.info("cluster")
    finally:
        await probe.aclose()
    if str(info.get("cluster_enabled", 0)) != "1":
        return _single(url, retries)
    return RedisCluster.from_url(url, decode_responses=True, socket_connect_timeout=2, socket_timeout=10)


def bell_urls(url: str, client: Client) -> list[str]:
    """Where to listen for doorbells: the node ``url`` names first, then (in a cluster, where every
    node hears every publish) the others, with the same scheme and credentials."""
    if not isinstance(client, RedisCluster):
        return [url]
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    others = []
    for node in client.get_nodes():
        where = f"[{node.host}]:{node.port}" if ":" in node.host else f"{node.host}:{node.port}"
        netloc = f"{credentials}@{where}" if credentials else where
        others.append(urlunsplit(parts._replace(netloc=netloc)))
    return [url, *(other for other in others if other != url)]


def listener(url: str) -> Redis:
    """A connection for a subscription, which checks the link now and then: a silently dead
    subscription would otherwise look like a quiet server."""
    return Redis.from_url(url, decode_responses=True, socket_connect_timeout=2, health_check_interval=5)


def _single(url: str, retries: int) -> Redis:
    return Redis.from_url(
        url, decode_responses=True, socket_connect_timeout=2, socket_timeout=10, retry=Retry(NoBackoff(), retries)
    )
