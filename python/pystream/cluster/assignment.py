"""Replica assignment for new topics: Kafka's rack-unaware algorithm.

(AdminUtils.assignReplicasToBrokersRackUnaware.) Brokers are sorted; partition
p's first replica (its preferred leader) is broker ``(start + p) % n``, so
leaders go round-robin. Followers follow the first replica at a distance
``1 + (shift + j) % (n - 1)`` for the j-th follower; the shift grows by one
each time the leaders wrap around the broker list, so the followers of one
broker's partitions land on different brokers. With ``start`` and ``shift``
random (the default), successive topics do not all lead on the same broker.

Invariants: each partition gets ``replication_factor`` distinct brokers; with
``partitions`` a multiple of the broker count every broker leads equally many.
"""

from __future__ import annotations

import random

from pystream.errors import PystreamError

__all__ = ["InvalidReplicationFactorError", "assign_replicas"]


class InvalidReplicationFactorError(PystreamError, ValueError):
    """Replication factor < 1 or larger than the number of live brokers (Kafka: INVALID_REPLICATION_FACTOR)."""


def assign_replicas(brokers: list[int], partitions: int, replication_factor: int,
                    start_index: int | None = None, shift: int | None = None) -> dict[int, list[int]]:
    """Return {partition: [replicas]} for a new topic; replicas[0] is the preferred leader.

    Deterministic when ``start_index`` and ``shift`` are given (tests), random otherwise.
    """
    if partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    if replication_factor < 1:
        raise InvalidReplicationFactorError(f"replication factor must be >= 1, got {replication_factor}")
    ids = sorted(set(brokers))
    n = len(ids)
    if replication_factor > n:
        raise InvalidReplicationFactorError(
            f"replication factor {replication_factor} larger than available brokers {n}")
    start = random.randrange(n) if start_index is None else start_index % n
    next_shift = random.randrange(n) if shift is None else shift % n
    out: dict[int, list[int]] = {}
    for p in range(partitions):
        if p > 0 and p % n == 0:
            next_shift += 1  # leaders wrapped around: move the followers along
        first = (p + start) % n
        replicas = [ids[first]]
        for j in range(replication_factor - 1):
            # distance 1..n-1 from the first replica: never the first replica itself,
            # and distinct for distinct j
            replicas.append(ids[(first + 1 + (next_shift + j) % (n - 1)) % n])
        out[p] = replicas
    return out
