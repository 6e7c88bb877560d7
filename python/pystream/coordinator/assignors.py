"""Server-side partition assignors of the consumer group protocol (KIP-848).

The coordinator computes a group's target assignment with the assignor the
members ask for (``group.remote.assignor`` on the client; the first of the
broker's ``group.consumer.assignors`` otherwise). Both are sticky: the input
carries each member's previous target assignment and the output moves as few
partitions as the rules allow.

- ``uniform`` (Kafka's UniformAssignor): spreads all partitions evenly. With
  the same subscriptions for every member, each gets ``P // M`` or
  ``P // M + 1`` partitions; with different ones, no partition can move to an
  eligible member that has two fewer than its owner.
- ``range`` (Kafka's server-side RangeAssignor): per topic, the members
  subscribed to it (in member id order) get contiguous ranges of
  ``P // M`` partitions, the first ``P % M`` one more; members keep the lowest
  of their current partitions up to that quota, so co-partitioned topics stay
  aligned on fresh assignments.

Inputs and outputs use topic names; partitions of a topic are ``0..count-1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Assignor", "MemberSpec", "RangeAssignor", "UniformAssignor", "ASSIGNORS", "TargetAssignment"]

# member id -> topic -> partitions
TargetAssignment = dict[str, dict[str, frozenset[int]]]


@dataclass(frozen=True)
class MemberSpec:
    """What an assignor knows of a member: its subscription and its current target partitions."""

    topics: frozenset[str]
    assigned: Mapping[str, frozenset[int]] = field(default_factory=dict)


class Assignor(Protocol):
    name: str

    def assign(self, members: Mapping[str, MemberSpec], partitions: Mapping[str, int]) -> TargetAssignment:
        """The target assignment of every member (each partition to at most one member).

        ``partitions`` maps the existing subscribed topics to their partition counts;
        subscriptions to other topics are ignored."""
        ...


def _result(members: Mapping[str, MemberSpec], owners: Mapping[tuple[str, int], str]) -> TargetAssignment:
    out: dict[str, dict[str, set[int]]] = {m: {} for m in members}
    for (topic, p), m in owners.items():
        out[m].setdefault(topic, set()).add(p)
    return {m: {t: frozenset(ps) for t, ps in topics.items()} for m, topics in out.items()}


class UniformAssignor:
    """Balanced and sticky; see the module docstring."""

    name = "uniform"

    def assign(self, members: Mapping[str, MemberSpec], partitions: Mapping[str, int]) -> TargetAssignment:
        order = sorted(members)
        eligible = {t: [m for m in order if t in members[m].topics] for t in sorted(partitions)}
        counts = dict.fromkeys(order, 0)
        owners: dict[tuple[str, int], str] = {}
        # 1. Every member keeps the partitions it still may have (subscribed, existing, not claimed).
        for m in order:
            for topic, ps in sorted(members[m].assigned.items()):
                if topic not in eligible or topic not in members[m].topics:
                    continue
                for p in sorted(ps):
                    if 0 <= p < partitions[topic] and (topic, p) not in owners:
                        owners[(topic, p)] = m
                        counts[m] += 1
        # 2. Free partitions go to the eligible member with the fewest, most constrained partitions first.
        free = sorted(((t, p) for t, n in partitions.items() for p in range(n) if (t, p) not in owners),
                      key=lambda tp: (len(eligible[tp[0]]), tp))
        for tp in free:
            candidates = eligible[tp[0]]
            if candidates:
                m = min(candidates, key=lambda c: (counts[c], c))
                owners[tp] = m
                counts[m] += 1
        # 3. Balance: move a partition to an eligible member with two fewer than its owner, until none can.
        #    Each move lowers the sum of squared counts, so this ends; with equal subscriptions it
        #    leaves every member at P // M or P // M + 1, having moved only the excess.
        moved = True
        while moved:
            moved = False
            for tp in sorted(owners, key=lambda tp: (-counts[owners[tp]], tp)):
                owner = owners[tp]
                target = min(eligible[tp[0]], key=lambda c: (counts[c], c))
                if counts[owner] - counts[target] > 1:
                    owners[tp] = target
                    counts[owner] -= 1
                    counts[target] += 1
                    moved = True
        return _result(members, owners)


class RangeAssignor:
    """Kafka's server-side range assignor (sticky ranges per topic); see the module docstring."""

    name = "range"

    def assign(self, members: Mapping[str, MemberSpec], partitions: Mapping[str, int]) -> TargetAssignment:
        owners: dict[tuple[str, int], str] = {}
        for topic in sorted(partitions):
            subscribed = sorted(m for m in members if topic in members[m].topics)
            if not subscribed:
                continue
            n = partitions[topic]
            quota, extra = divmod(n, len(subscribed))
            kept: set[int] = set()
            unfilled: list[tuple[str, int]] = []  # (member, partitions still needed to reach the quota)
            for m in subscribed:
                current = sorted(p for p in members[m].assigned.get(topic, ()) if 0 <= p < n and p not in kept)
                for p in current[:quota]:
                    owners[(topic, p)] = m
                    kept.add(p)
                remaining = quota - len(current)
                if remaining < 0 and extra > 0:
                    # It had more than the quota: it keeps one of the extra partitions.
                    extra -= 1
                    owners[(topic, current[quota])] = m
                    kept.add(current[quota])
                else:
                    unfilled.append((m, remaining))
            free = iter(p for p in range(n) if p not in kept)
            for m, remaining in unfilled:
                if extra > 0:
                    remaining += 1
                    extra -= 1
                for _ in range(max(remaining, 0)):
                    owners[(topic, next(free))] = m
        return _result(members, owners)


ASSIGNORS: dict[str, Assignor] = {a.name: a for a in (UniformAssignor(), RangeAssignor())}
