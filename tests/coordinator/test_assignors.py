"""The server-side assignors of KIP-848: uniform (balanced, sticky) and range (Kafka's sticky ranges)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pystream.coordinator.assignors import MemberSpec, RangeAssignor, UniformAssignor

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
uniform, range_ = UniformAssignor(), RangeAssignor()

topics_st = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.integers(1, 12), min_size=1)
member_ids = st.lists(st.text("mnopqrstuvwxyz", min_size=1, max_size=4), min_size=1, max_size=7, unique=True)


def counts(assignment) -> dict[str, int]:
    return {m: sum(len(ps) for ps in tps.values()) for m, tps in assignment.items()}


def owners(assignment) -> dict[tuple[str, int], str]:
    out: dict[tuple[str, int], str] = {}
    for m, tps in assignment.items():
        for t, ps in tps.items():
            for p in ps:
                assert (t, p) not in out, f"{t}-{p} assigned twice"
                out[(t, p)] = m
    return out


def check_valid(members, partitions, assignment) -> None:
    """Every partition of a subscribed topic has exactly one owner, subscribed to it."""
    own = owners(assignment)
    assert set(assignment) == set(members)
    want = {(t, p) for t, n in partitions.items() for p in range(n) if any(t in s.topics for s in members.values())}
    assert set(own) == want
    for (t, p), m in own.items():
        assert t in members[m].topics


def same(topics: frozenset[str], ids: list[str], previous=None) -> dict[str, MemberSpec]:
    previous = previous or {}
    return {m: MemberSpec(topics, previous.get(m, {})) for m in ids}


# ------------------------------------------------------------------ uniform


@SETTINGS
@given(topics_st, member_ids)
def test_uniform_same_subscriptions_balances_within_one(partitions, ids) -> None:
    members = same(frozenset(partitions), ids)
    a = uniform.assign(members, partitions)
    check_valid(members, partitions, a)
    c = counts(a)
    assert max(c.values()) - min(c.values()) <= 1


def _minimal_moves(prev_counts: dict[str, int], total: int) -> int:
    """Fewest partitions the surviving members must give up to reach a balanced assignment."""
    n = len(prev_counts)
    q, extra = divmod(total, n)
    ranked = sorted(prev_counts.values(), reverse=True)
    return sum(max(0, c - (q + 1 if i < extra else q)) for i, c in enumerate(ranked))


@SETTINGS
@given(topics_st, member_ids, member_ids)
def test_uniform_is_sticky_when_members_change(partitions, before, after) -> None:
    """Members who stay keep their partitions but the excess; the excess is the least possible."""
    topics = frozenset(partitions)
    first = uniform.assign(same(topics, before), partitions)
    members = same(topics, after, first)
    second = uniform.assign(members, partitions)
    check_valid(members, partitions, second)
    old, new = owners(first), owners(second)
    moved = sum(1 for tp, m in old.items() if m in members and new[tp] != m)
    prev = {m: counts(first).get(m, 0) for m in after}
    assert moved == _minimal_moves(prev, sum(partitions.values()))
    c = counts(second)
    assert max(c.values()) - min(c.values()) <= 1


@SETTINGS
@given(topics_st, st.dictionaries(st.text("mnop", min_size=1, max_size=3),
                                  st.frozensets(st.sampled_from(["a", "b", "c", "d"]), min_size=1), min_size=1, max_size=6))
def test_uniform_different_subscriptions_no_improving_move(partitions, subs) -> None:
    members = {m: MemberSpec(t) for m, t in subs.items()}
    a = uniform.assign(members, partitions)
    check_valid(members, partitions, a)
    c = counts(a)
    for (t, p), m in owners(a).items():
        for other, spec in members.items():
            if t in spec.topics:
                assert c[m] - c[other] <= 1, (t, p, m, other, c)
    # and again from that assignment, after one member leaves: still valid and locally balanced
    if len(members) > 1:
        gone = sorted(members)[0]
        rest = {m: MemberSpec(s.topics, a[m]) for m, s in members.items() if m != gone}
        b = uniform.assign(rest, partitions)
        check_valid(rest, partitions, b)
        cb = counts(b)
        for (t, p), m in owners(b).items():
            assert all(cb[m] - cb[o] <= 1 for o, spec in rest.items() if t in spec.topics)


def test_uniform_spreads_topics_and_ignores_unknown_or_unsubscribed() -> None:
    members = {"m1": MemberSpec(frozenset({"x", "y", "ghost"})), "m2": MemberSpec(frozenset({"x", "y"})),
               "m3": MemberSpec(frozenset({"x", "y"}))}
    a = uniform.assign(members, {"x": 3, "y": 3})
    assert counts(a) == {"m1": 2, "m2": 2, "m3": 2}
    # A member no longer subscribed to a topic loses it; partitions beyond the count are dropped.
    members = {"m1": MemberSpec(frozenset({"y"}), {"x": frozenset({0, 1}), "y": frozenset({7})}),
               "m2": MemberSpec(frozenset({"x", "y"}), {"x": frozenset({2})})}
    a = uniform.assign(members, {"x": 3, "y": 1})
    assert a == {"m1": {"y": frozenset({0})}, "m2": {"x": frozenset({0, 1, 2})}}


# ------------------------------------------------------------------ range


def classic_range(ids: list[str], n: int) -> dict[str, list[int]]:
    """The classic range assignment of one topic: contiguous, the first n % m members one more."""
    q, extra = divmod(n, len(ids))
    out, start = {}, 0
    for i, m in enumerate(sorted(ids)):
        size = q + (1 if i < extra else 0)
        out[m] = list(range(start, start + size))
        start += size
    return out


@SETTINGS
@given(topics_st, member_ids)
def test_range_fresh_assignment_is_classic_range(partitions, ids) -> None:
    members = same(frozenset(partitions), ids)
    a = range_.assign(members, partitions)
    check_valid(members, partitions, a)
    for t, n in partitions.items():
        want = classic_range(ids, n)
        assert {m: sorted(a[m].get(t, ())) for m in ids} == want
    # co-partitioned topics: the same partition numbers go to the same member
    if len(set(partitions.values())) == 1:
        for m in ids:
            assert len({frozenset(ps) for ps in a[m].values()}) <= 1


@SETTINGS
@given(topics_st, member_ids, member_ids,
       st.dictionaries(st.text("mnopqrstuvwxyz", min_size=1, max_size=4),
                       st.frozensets(st.sampled_from(["a", "b", "c", "d"]), min_size=1), max_size=3))
def test_range_quotas_and_stickiness(partitions, before, after, extra_subs) -> None:
    topics = frozenset(partitions)
    first = range_.assign(same(topics, before), partitions)
    members = {m: MemberSpec(extra_subs.get(m, topics), first.get(m, {})) for m in after}
    second = range_.assign(members, partitions)
    check_valid(members, partitions, second)
    for t, n in partitions.items():
        subscribed = sorted(m for m in members if t in members[m].topics)
        if not subscribed:
            continue
        q, extra = divmod(n, len(subscribed))
        sizes = [len(second[m].get(t, ())) for m in subscribed]
        assert all(s in (q, q + 1) for s in sizes) and sizes.count(q + 1) == extra, (t, sizes)
        for m in subscribed:
            # a member keeps the lowest of its current partitions up to its share
            current = sorted(first.get(m, {}).get(t, ()))
            assert set(current[:q]) <= second[m].get(t, frozenset())


def test_range_example() -> None:
    a = range_.assign({m: MemberSpec(frozenset({"t", "u"})) for m in ("c", "a", "b")}, {"t": 7, "u": 2})
    assert a == {"a": {"t": frozenset({0, 1, 2}), "u": frozenset({0})},
                 "b": {"t": frozenset({3, 4}), "u": frozenset({1})},
                 "c": {"t": frozenset({5, 6})}}
