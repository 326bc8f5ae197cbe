"""Latency histogram and delivery accounting, small enough to ship between processes.

The histogram is log-linear: exact below 128 µs, then 64 buckets per power of two, so any
percentile is within 1/64 (1.6%) of the true value while a sample costs one list increment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SUB_BITS = 6
SUB = 1 << SUB_BITS
BUCKETS = (40 - SUB_BITS) * SUB + 2 * SUB  # values up to 2**40 µs (12 days)


def bucket_of(value: int) -> int:
    """The bucket index of a non-negative integer value."""
    if value < 2 * SUB:
        return max(value, 0)
    shift = value.bit_length() - SUB_BITS - 1
    return (shift + 1) * SUB + (value >> shift) - SUB


def bucket_floor(index: int) -> int:
    """The smallest value that falls into bucket ``index``."""
    if index < 2 * SUB:
        return index
    shift = index // SUB - 1
    return (index % SUB + SUB) << shift


@dataclass(slots=True)
class Histogram:
    """Counts of integer samples (latencies in µs), mergeable across processes."""

    counts: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    total: int = 0
    sum: int = 0
    max: int = 0

    def add(self, value: int) -> None:
        self.counts[min(bucket_of(value), BUCKETS - 1)] += 1
        self.total += 1
        self.sum += value
        if value > self.max:
            self.max = value

    def merge(self, other: Histogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total
        self.sum += other.sum
        self.max = max(self.max, other.max)

    def percentile(self, p: float) -> int:
        """The value below which ``p`` percent of the samples fall (the bucket's midpoint; exact max at 100)."""
        if not self.total:
            return 0
        if p >= 100:
            return self.max
        rank = max(1, round(self.total * p / 100))
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                low, high = bucket_floor(index), bucket_floor(index + 1)
                return min((low + high - 1) // 2, self.max)
        return self.max

    @property
    def mean(self) -> float:
        return self.sum / self.total if self.total else 0.0


@dataclass(slots=True)
class Tally:
    """What the clients of one process saw: unique deliveries, duplicates, reordering."""

    received: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    self_echo: int = 0
    last_receive_ns: int = 0
    latency_us: Histogram = field(default_factory=Histogram)

    def merge(self, other: Tally) -> None:
        self.received += other.received
        self.duplicates += other.duplicates
        self.out_of_order += other.out_of_order
        self.self_echo += other.self_echo
        self.last_receive_ns = max(self.last_receive_ns, other.last_receive_ns)
        self.latency_us.merge(other.latency_us)


class Seen:
    """Per (receiver, publisher): which sequence numbers arrived, and the highest so far."""

    __slots__ = ("bits", "last")

    def __init__(self) -> None:
        self.bits = bytearray()
        self.last = -1

    def record(self, seq: int, tally: Tally) -> bool:
        """Count one arrival of ``seq``; False if it is a duplicate."""
        byte, bit = seq >> 3, 1 << (seq & 7)
        bits = self.bits
        if byte >= len(bits):
            bits.extend(bytes(byte + 64 - len(bits)))
        elif bits[byte] & bit:
            tally.duplicates += 1
            return False
        bits[byte] |= bit
        if seq < self.last:
            tally.out_of_order += 1
        else:
            self.last = seq
        return True
