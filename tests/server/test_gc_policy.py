"""The broker process's collector policy (server/gc_policy.py): long-lived objects frozen after
full collections and bulk partition opens, and the frozen set emptied once it has grown past
its limit, so that cyclic garbage frozen by mistake is freed after all."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from pystream.server.gc_policy import GcPolicy


class _Node:
    def __init__(self) -> None:
        self.peer: _Node | None = None


def _cycle() -> _Node:
    a, b = _Node(), _Node()
    a.peer, b.peer = b, a
    return a


def _collectable(obj: object) -> bool:
    """In a generation the collector visits (not frozen)."""
    return any(o is obj for g in range(3) for o in gc.get_objects(g))


@pytest.fixture
def policy() -> Iterator[GcPolicy]:
    gc.collect()
    p = GcPolicy(min_regrowth=5_000, bulk_open=10)
    p.count_interval_s = 0.0  # (the broker counts the frozen set at most every 5 minutes)
    p.install()
    try:
        yield p
    finally:
        p.uninstall()  # the test process's collector as it was: nothing frozen
        gc.collect()


def test_survivors_of_a_full_collection_are_frozen(policy: GcPolicy) -> None:
    gc.collect()  # the first sets the base
    kept = [[i] for i in range(2_000)]  # long-lived state
    gc.collect()
    assert not any(_collectable(x) for x in kept[:3])
    assert gc.get_freeze_count() >= 2_000
    assert policy.freezes >= 2 and policy.longest_full_collection_s > 0


def test_bulk_opens_freeze_without_a_collection(policy: GcPolicy) -> None:
    gc.collect()
    before = policy.freezes
    state = [[i] for i in range(500)]  # what the opened partitions hold
    for _ in range(9):
        policy.partitions_opened()
    assert policy.freezes == before
    policy.partitions_opened()  # the tenth: bulk_open reached
    assert policy.freezes == before + 1
    assert not _collectable(state[0]) and gc.get_freeze_count() >= 500
    assert policy.limit >= policy._base + 10 * 40  # their state is allowed for


def test_frozen_cyclic_garbage_is_freed_once_the_frozen_set_outgrows_its_limit(policy: GcPolicy) -> None:
    gc.collect()  # base
    node = _cycle()
    probe = weakref.ref(node)
    gc.collect()  # the cycle survives (referenced) and is frozen
    del node
    gc.collect()
    assert probe() is not None, "a frozen cycle is not collected while frozen (the policy's known cost)"
    # Frozen growth past the limit: the frozen set is emptied, the next full collection frees the cycle.
    filler = [[i] for i in range(policy.limit + 1_000)]
    gc.collect()
    assert policy.unfreezes == 1
    gc.collect()  # visits everything once and freezes the rest again
    assert probe() is None
    assert gc.get_freeze_count() >= len(filler)


def test_uninstalled_it_leaves_the_collector_alone() -> None:
    p = GcPolicy(bulk_open=1)
    p.partitions_opened(5)
    gc.collect()
    assert p.freezes == 0 and gc.get_freeze_count() == 0


def test_the_frozen_set_is_counted_at_most_once_per_interval(policy: GcPolicy) -> None:
    """Counting walks every frozen object with the GIL held: a growing bound does not make
    every full collection count."""
    policy.count_interval_s = 3600.0
    gc.collect()  # base
    filler = [[i] for i in range(policy.limit + 1_000)]
    gc.collect()  # bound past the limit: counted once, real growth past the limit too: unfrozen
    assert policy.unfreezes == 1
    gc.collect()  # rebase
    more = [[i] for i in range(policy.limit + 1_000)]
    gc.collect()
    gc.collect()
    assert policy.unfreezes == 1, "counted again within the interval"
    assert policy.frozen_bound >= len(filler) + len(more)


def test_collector_paused_only_in_a_broker_process_and_until_the_last_thread_leaves(policy: GcPolicy) -> None:
    import threading

    from pystream.server.gc_policy import collector_paused

    assert gc.isenabled()
    inside, release = threading.Event(), threading.Event()

    def decode() -> None:
        with collector_paused():
            inside.set()
            release.wait(10)

    t = threading.Thread(target=decode)
    t.start()
    assert inside.wait(10)
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled(), "re-enabled while another thread still decodes"
    release.set()
    t.join(10)
    assert gc.isenabled()
    policy.uninstall()
    with collector_paused():  # no policy installed: the host process's collector is left alone
        assert gc.isenabled()
