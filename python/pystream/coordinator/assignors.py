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

__all__ = ["Assignor", "MemberSpec", "RangeAssignor", "UniformAssignor", "ASSIGNORS", "TargetAssignment", "assignor_names"]

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
        # Every member may keep the partitions it still may have (subscribed, existing, not claimed).
        kept: dict[str, list[tuple[str, int]]] = {m: [] for m in order}
        claimed: set[tuple[str, int]] = set()
        for m in order:
            for topic, ps in sorted(members[m].assigned.items()):
                if topic in eligible and topic in members[m].topics:
                    for p in sorted(ps):
                        if 0 <= p < partitions[topic] and (topic, p) not in claimed:
                            kept[m].append((topic, p))
                            claimed.add((topic, p))
        if len({frozenset(members[m].topics & partitions.keys()) for m in order}) == 1:
            owners = self._same_subscriptions(order, kept, {t: n for t, n in partitions.items() if eligible[t]})
        else:
            owners = self._different_subscriptions(order, kept, eligible, partitions)
        return _result(members, owners)

    @staticmethod
    def _same_subscriptions(order: list[str], kept: dict[str, list[tuple[str, int]]],
                            partitions: Mapping[str, int]) -> dict[tuple[str, int], str]:
        """Exact quotas: P // M each, one more for the P % M members that hold the most already;
        each keeps what it has up to its quota (the fewest moves possible)."""
        total = sum(partitions.values())
        q, extra = divmod(total, len(order))
        ranked = sorted(order, key=lambda m: (-len(kept[m]), m))
        quota = {m: q + (1 if i < extra else 0) for i, m in enumerate(ranked)}
        owners = {tp: m for m in order for tp in kept[m][: quota[m]]}
        counts = {m: min(len(kept[m]), quota[m]) for m in order}
        for tp in sorted((t, p) for t, n in partitions.items() for p in range(n) if (t, p) not in owners):
            m = min((m for m in order if counts[m] < quota[m]), key=lambda c: (counts[c], c))
            owners[tp] = m
            counts[m] += 1
        return owners

    @staticmethod
    def _different_subscriptions(order: list[str], kept: dict[str, list[tuple[str, int]]],
                                 eligible: dict[str, list[str]], partitions: Mapping[str, int]) -> dict[tuple[str, int], str]:
        """Keep everything, hand free partitions to the eligible member with the fewest (most
        constrained partitions first), then move partitions from the most loaded members to eligible
        members with two fewer until none can move: each move lowers the sum of squared counts."""
        owned = {m: set(kept[m]) for m in order}
        counts = {m: len(kept[m]) for m in order}
        free = sorted(((t, p) for t, n in partitions.items() for p in range(n) if not any((t, p) in owned[m] for m in eligible[t])),
                      key=lambda tp: (len(eligible[tp[0]]), tp))
        for tp in free:
            if eligible[tp[0]]:
                m = min(eligible[tp[0]], key=lambda c: (counts[c], c))
                owned[m].add(tp)
                counts[m] += 1
        moved = True
        while moved:
            moved = False
            for donor in sorted(order, key=lambda m: (-counts[m], m)):
                for tp in sorted(owned[donor]):
                    target = min(eligible[tp[0]], key=lambda c: (counts[c], c))
                    if counts[donor] - counts[target] > 1:
                        owned[donor].remove(tp)
                        owned[target].add(tp)
                        counts[donor] -= 1
                        counts[target] += 1
                        moved = True
                        break
                if moved:
                    break
        return {tp: m for m in order for tp in owned[m]}


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
_CLASS_NAMES = {"org.apache.kafka.coordinator.group.assignor.UniformAssignor": "uniform",
                "org.apache.kafka.coordinator.group.assignor.RangeAssignor": "range"}


def assignor_names(setting: str | list[str]) -> tuple[str, ...]:
    """The assignors of Kafka's ``group.consumer.assignors`` (names or Kafka's class names, a list
    or comma separated; the first is the default). ValueError names an unknown one."""
    items = setting.split(",") if isinstance(setting, str) else setting
    names = tuple(_CLASS_NAMES.get(n.strip(), n.strip()) for n in items if n.strip())
    unknown = [n for n in names if n not in ASSIGNORS]
    if unknown or not names:
        raise ValueError(f"group.consumer.assignors={setting!r}: unknown assignor(s) {unknown}; known: {sorted(ASSIGNORS)}")
    return names
