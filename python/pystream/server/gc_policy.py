"""The garbage collector's policy in a broker process: no long pause for long-lived state.

CPython's full (generation 2) collection visits every object the collector tracks,
with the GIL held: with 10,000 open partitions that is some 280,000 objects and
150-250 ms during which the event loop answers nobody. Nearly all of them are the
broker's long-lived state (partitions, logs, producer state, metadata), which refcounting
frees when a topic is deleted; re-visiting them at every full collection finds nothing.

So long-lived objects are moved to the permanent generation (`gc.freeze`), which
collections skip:
- after each full collection: what survived it is long-lived;
- after many partitions were opened at once (a first produce or fetch to thousands of
  them, start-up): the first full collection would otherwise visit them all.
A full collection then visits only what was allocated since the last freeze.

The cost: cyclic garbage among frozen objects (a closed connection's objects, frozen while
it was open) is not freed while frozen. Bound: once the frozen set has grown by half (and
by at least `MIN_REGROWTH` objects) since it was last emptied, not counting the state of
the partitions opened since, it is unfrozen, and the next full collection visits
everything once, frees that garbage, and freezes the rest again: one long pause per such
growth instead of one per full collection.

And `collector_paused`: codec threads build and read requests of thousands of partitions
without collections in between (a young collection over them held the GIL, and so the
event loop, up to 77 ms).
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Iterator
from typing import Any

MIN_REGROWTH = 200_000  # objects
REGROWTH_RATIO = 1.5
BULK_OPEN = 1_000  # partitions opened since the last freeze that trigger one
PARTITION_OBJECTS = 40  # tracked objects an open partition holds (measured: ~28)
COUNT_INTERVAL_S = 300.0  # the frozen set is counted (a walk of all of it) at most this often


_pause_lock = threading.Lock()
_pauses = 0  # threads inside collector_paused()
_active = False  # a GcPolicy is installed in this process


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No collection while a codec thread builds (decodes) or reads (encodes) a request of
    thousands of partitions: every object it makes survives, so collections in between find
    nothing, and a young collection over them holds the GIL (and the event loop) tens of ms.
    The allocations still count: the first collection after the pause runs as usual. Only
    in a broker process (a GcPolicy installed)."""
    global _pauses
    if not _active:
        yield
        return
    with _pause_lock:
        _pauses += 1
        gc.disable()
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0:
                gc.enable()


class GcPolicy:
    """Installed once per broker process (`pystream serve`); in-process brokers (tests, the
    embedded API) leave the host process's collector alone."""

    def __init__(self, min_regrowth: int = MIN_REGROWTH, regrowth_ratio: float = REGROWTH_RATIO,
                 bulk_open: int = BULK_OPEN) -> None:
        self.min_regrowth, self.regrowth_ratio, self.bulk_open = min_regrowth, regrowth_ratio, bulk_open
        # Counting the frozen set (gc.get_freeze_count) walks all of it: ~300,000 scattered
        # objects take 3-40 ms. So it is counted only after a full collection that visited
        # everything (the base) and when the running upper bound passes the limit, at most
        # once per `count_interval_s`.
        self._base = 0  # objects frozen right after the last full collection that visited everything
        self._frozen_bound = 0  # upper bound of the frozen set's size: base + every object frozen since
        self._opened_since_base = 0
        self._rebase = True  # the next full collection sets the base (the first one, or just unfrozen)
        self._opened = 0  # partitions opened since the last freeze
        self._started = 0.0
        self._counted_at = -float("inf")  # monotonic time of the last count of the frozen set
        self.count_interval_s = COUNT_INTERVAL_S
        self.installed = False
        # counters (tests, metrics)
        self.freezes = 0
        self.unfreezes = 0
        self.longest_full_collection_s = 0.0

    def install(self) -> None:
        global _active
        if not self.installed:
            gc.callbacks.append(self._on_collection)
            self.installed = _active = True

    def uninstall(self) -> None:
        global _active
        if self.installed:
            gc.callbacks.remove(self._on_collection)
            self.installed = _active = False
            gc.unfreeze()

    def started(self) -> None:
        """The broker has loaded its state and is about to serve: collect once (nobody waits
        yet); the collection's callback freezes what is left and sets the base."""
        if self.installed:
            gc.collect()

    def partitions_opened(self, n: int = 1) -> None:
        """The broker opened `n` partitions (their objects live as long as the partition)."""
        if not self.installed:
            return
        self._opened += n
        self._opened_since_base += n
        if self._opened >= self.bulk_open:
            self._freeze()

    @property
    def frozen_bound(self) -> int:
        """Upper bound of the frozen set's size (objects)."""
        return self._frozen_bound

    @property
    def limit(self) -> int:
        """Frozen objects past which the frozen set is emptied: the base, a share of it, and
        the state of the partitions opened since (long-lived, not garbage)."""
        return (self._base + max(int(self._base * (self.regrowth_ratio - 1)), self.min_regrowth)
                + PARTITION_OBJECTS * self._opened_since_base)

    def _freeze(self) -> None:
        self._frozen_bound += sum(len(gc.get_objects(g)) for g in range(3))  # what the freeze moves: O(unfrozen)
        gc.freeze()
        self._opened = 0
        self.freezes += 1

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        # Runs inside the collector, in whichever thread triggered it: list moves only.
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
            return
        self.longest_full_collection_s = max(self.longest_full_collection_s, time.perf_counter() - self._started)
        if self._rebase:  # this one visited everything not frozen by a bulk open: the new base
            self._rebase = False
            gc.freeze()
            self._base = self._frozen_bound = gc.get_freeze_count()
            self._opened, self._opened_since_base = 0, 0
            self.freezes += 1
            return
        self._freeze()
        now = time.monotonic()
        if self._frozen_bound > self.limit and now - self._counted_at >= self.count_interval_s:
            # The bound counts every object ever frozen, also those freed since (in-flight
            # requests frozen with the rest): only a count tells. At most once per interval: it
            # walks the whole frozen set, tens of ms with the GIL held.
            self._counted_at = now
            self._frozen_bound = gc.get_freeze_count()
            if self._frozen_bound > self.limit:
                gc.unfreeze()  # the next full collection visits everything once
                self._rebase = True
                self.unfreezes += 1
