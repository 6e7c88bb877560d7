"""The controller: leader election, ISR cleanup and reassignment, run by the broker
that holds /controller.

Pure logic over a :class:`ClusterStore`; synchronous (each method is a handful of
ZooKeeper round trips; a broker on asyncio runs them in an executor, one at a
time). The broker calls:

* ``elect()`` at start and whenever /controller disappears;
* ``on_topics_changed()`` when /brokers/topics changes;
* ``on_brokers_changed()`` when /brokers/ids changes;
* ``process_reassignments()`` when /admin/reassign_partitions or an ISR changes;
* ``process_controlled_shutdowns()`` when a broker asks to shut down (/admin/controlled_shutdown);
* ``elect_preferred_leaders()`` periodically (auto.leader.rebalance.enable).

Safety when two brokers briefly both believe they are controller: every write
is conditional on the znode version it was computed from, and *fenced* by the
controller epoch (a multi-op that checks /controller_epoch is unchanged since
this broker's election), so a deposed controller's writes all fail with
ControllerMovedError. Every state it writes also carries its controller_epoch.
Each method recomputes from what it reads, so running it twice, or after a
controller change midway, is harmless (idempotent, resumable).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from pystream.cluster.zk import NO_LEADER, ClusterStore, ControllerMovedError, PartitionState, Watch
from pystream.errors import UnknownTopicError

__all__ = ["Controller", "ControllerMovedError"]

log = logging.getLogger(__name__)

MAX_RETRIES = 20  # conditional-write attempts per partition before giving up on this round


class Controller:
    """Controller logic for broker ``broker_id``; active only after ``elect()`` succeeded."""

    def __init__(self, store: ClusterStore, broker_id: int, unclean_leader_election: bool = False) -> None:
        self.store = store
        self.broker_id = broker_id
        self.unclean_leader_election = unclean_leader_election
        self.epoch: int | None = None  # controller epoch while active, else None
        self._submit: Callable[[Callable[[], object]], object] | None = None
        self._topic_watches: dict[str, Watch] = {}  # partition additions (CreatePartitions)

    @property
    def active(self) -> bool:
        """True while this broker believes it is the controller (fenced writes decide)."""
        return self.epoch is not None

    # -- election -------------------------------------------------------------

    def elect(self) -> bool:
        """Try to become controller; when elected, bring all partition states up to
        date (new topics, dead brokers, pending reassignments). Returns True if
        this broker is the controller."""
        epoch = self.store.try_become_controller(self.broker_id)
        if epoch is None:
            self.epoch = None
            return False
        newly = self.epoch != epoch
        self.epoch = epoch
        if newly:
            log.info("broker %d is the controller (epoch %d)", self.broker_id, epoch)
            self._guard(self.on_topics_changed)
            self._guard(self.on_brokers_changed)
            self._guard(self.process_reassignments)
            self._guard(self.process_controlled_shutdowns)
        return self.active

    def resign(self) -> None:
        """Give up the controller role (graceful shutdown)."""
        self.epoch = None
        self.store.resign_controller(self.broker_id)

    def install_watches(self, submit: Callable[[Callable[[], object]], object]) -> list[Watch]:
        """Wire ZooKeeper events to this controller. ``submit(fn)`` must run ``fn``
        later, one at a time, off kazoo's thread: e.g. a one-thread
        ThreadPoolExecutor's ``submit``, or ``lambda fn: loop.call_soon_threadsafe(
        loop.run_in_executor, pool, fn)``. Runs ``elect()`` whenever /controller is
        empty, and the matching step on broker, topic and reassignment changes
        while active. ISR growth (reassignment phase 2) has no watch here: the
        broker calls ``process_reassignments()`` after a leader widens an ISR, or
        periodically. Session loss deactivates the controller."""

        def when_active(step: Callable[[], object]) -> Callable[[], None]:
            def run() -> None:
                if self.active:
                    self._guard(step)
            return run

        self._submit = submit
        self.store.on_session_lost(lambda state: setattr(self, "epoch", None) if state == "LOST" else None)
        return [
            self.store.watch_controller(lambda cid: submit(self.elect) if cid is None else None),
            self.store.watch_brokers(lambda ids: submit(when_active(self.on_brokers_changed))),
            self.store.watch_topics(lambda names: submit(when_active(self.on_topics_changed))),
            self.store.watch_reassignments(lambda pending: submit(when_active(self.process_reassignments))
                                           if pending else None),
            self.store.watch_controlled_shutdowns(
                lambda ids: submit(when_active(self.process_controlled_shutdowns)) if ids else None),
        ]

    def _watch_topic(self, name: str) -> None:
        """A topic's znode changes when partitions are added: create their states then. (Set up
        when the topic is first seen; cancelled when it is gone.)"""
        if self._submit is None or name in self._topic_watches:
            return
        submit = self._submit

        def changed() -> None:
            submit(lambda: self._guard(self.on_topics_changed) if self.active else None)

        self._topic_watches[name] = self.store.watch_path(self.store.topic_path(name), changed, known_version=-1)

    def _guard(self, fn: Callable[[], object]) -> None:
        try:
            fn()
        except ControllerMovedError:
            self.epoch = None

    def _require_active(self) -> int:
        if self.epoch is None:
            raise ControllerMovedError(f"broker {self.broker_id} is not the controller")
        return self.epoch

    # -- the one read-modify-write loop ---------------------------------------

    def _update_state(self, topic: str, partition: int,
                      compute: Callable[[PartitionState], PartitionState | None]) -> PartitionState | None:
        """Re-read the state and apply ``compute`` until the conditional write wins.
        ``compute`` returns None for "no change". Returns the state written (None if none)."""
        epoch = self._require_active()
        for _ in range(MAX_RETRIES):
            got = self.store.partition_state(topic, partition)
            if got is None:
                return None
            state, version = got
            if state.controller_epoch > epoch:
                # a newer controller already wrote here: we are deposed
                self.epoch = None
                raise ControllerMovedError(f"controller epoch {state.controller_epoch} > ours {epoch}")
            new = compute(state)
            if new is None or new == state:
                return None
            new = PartitionState(new.leader, new.leader_epoch, list(new.isr), epoch)
            try:
                if self.store.update_partition_state(topic, partition, new, version, fenced=True) is not None:
                    if new.leader != state.leader:
                        log.info("%s-%d: leader %d -> %d (epoch %d), isr %s", topic, partition,
                                 state.leader, new.leader, new.leader_epoch, new.isr)
                    return new
            except ControllerMovedError:
                self.epoch = None
                raise
            # lost the race (a leader changed its ISR, say): re-read and recompute
        log.warning("%s-%d: gave up after %d conflicting updates", topic, partition, MAX_RETRIES)
        return None

    def _elect(self, state: PartitionState, replicas: list[int], live: Collection[int],
               shutting_down: Collection[int] = ()) -> PartitionState | None:
        """Leader and ISR for the current live broker set, or None when nothing changes.

        * leader alive: drop dead followers from the ISR (no epoch bump: the
          leader keeps its epoch; an ISR change is not a leader change);
        * leader dead or offline: the first replica in assignment order that is
          alive and in the ISR leads, ISR = its live members, leader_epoch + 1;
        * no such replica: with unclean election, the first live replica leads
          with ISR [it] (data loss possible); otherwise leader -1 and the ISR is
          kept as it was, so any of its members can come back as a clean leader.
        """
        live_isr = [b for b in state.isr if b in live]
        if state.leader != NO_LEADER and state.leader in live:
            if live_isr != state.isr:
                return PartitionState(state.leader, state.leader_epoch, live_isr, state.controller_epoch)
            return None
        candidates = [b for b in replicas if b in live and b in state.isr]
        # A broker in a controlled shutdown leads only when no other in-sync replica can.
        candidates.sort(key=lambda b: b in shutting_down)
        if candidates:
            return PartitionState(candidates[0], state.leader_epoch + 1, live_isr, state.controller_epoch)
        if self.unclean_leader_election:
            live_replicas = [b for b in replicas if b in live]
            if live_replicas:
                log.warning("unclean leader election: broker %d leads without being in ISR %s",
                            live_replicas[0], state.isr)
                return PartitionState(live_replicas[0], state.leader_epoch + 1, [live_replicas[0]],
                                      state.controller_epoch)
        if state.leader == NO_LEADER:
            return None  # already offline; ISR kept (its members are the clean candidates)
        return PartitionState(NO_LEADER, state.leader_epoch + 1, state.isr, state.controller_epoch)

    # -- events ---------------------------------------------------------------

    def on_topics_changed(self) -> list[tuple[str, int]]:
        """Create the state znode of every partition that has none: leader = first
        live replica, ISR = live replicas, leader_epoch 0. With no replica alive the
        partition starts offline (leader -1) with ISR = all replicas: it holds no
        data yet, so whichever comes first may lead. Returns the partitions created."""
        epoch = self._require_active()
        live = set(self.store.live_brokers()) - set(self.store.shutting_down_brokers())
        created = []
        names = self.store.topics()
        for gone in set(self._topic_watches) - set(names):
            self._topic_watches.pop(gone).cancel()
        for name in names:
            self._watch_topic(name)
            info = self.store.topic(name)
            if info is None:
                continue
            existing = self.store.partition_states(name)
            for p, replicas in info.partitions.items():
                if p in existing:
                    continue
                live_replicas = [b for b in replicas if b in live]
                state = (PartitionState(live_replicas[0], 0, live_replicas, epoch) if live_replicas
                         else PartitionState(NO_LEADER, 0, list(replicas), epoch))
                try:
                    if self.store.create_partition_state(name, p, state, fenced=True) is not None:
                        created.append((name, p))
                except UnknownTopicError:
                    break  # deleted meanwhile
                except ControllerMovedError:
                    self.epoch = None
                    raise
        return created

    def on_brokers_changed(self) -> list[tuple[str, int]]:
        """Re-elect leaders of partitions whose leader died or that are offline, and
        drop dead brokers from every ISR. Returns the partitions whose state changed."""
        self._require_active()
        live = set(self.store.live_brokers())
        shutting_down = set(self.store.shutting_down_brokers())
        changed = []
        for name in self.store.topics():
            info = self.store.topic(name)
            if info is None:
                continue
            for p, replicas in info.partitions.items():
                try:
                    if self._update_state(name, p, lambda s, r=replicas: self._elect(s, r, live, shutting_down)):
                        changed.append((name, p))
                except UnknownTopicError:
                    break
        return changed

    def elect_preferred_leaders(self, topics: Collection[str] | None = None) -> list[tuple[str, int]]:
        """Move leadership to each partition's preferred (first) replica where it is
        alive, in the ISR and not already leader (leader_epoch + 1). Partitions being
        reassigned are skipped. Returns the partitions whose leader moved."""
        self._require_active()
        live = set(self.store.live_brokers()) - set(self.store.shutting_down_brokers())
        pending = self.store.pending_reassignments()
        moved = []
        for name in (self.store.topics() if topics is None else topics):
            info = self.store.topic(name)
            if info is None:
                continue
            for p, replicas in info.partitions.items():
                if (name, p) in pending or not replicas:
                    continue
                preferred = replicas[0]

                def compute(s: PartitionState, preferred: int = preferred) -> PartitionState | None:
                    if s.leader == preferred or preferred not in live or preferred not in s.isr:
                        return None
                    return PartitionState(preferred, s.leader_epoch + 1, s.isr, s.controller_epoch)

                try:
                    if self._update_state(name, p, compute):
                        moved.append((name, p))
                except UnknownTopicError:
                    break
        return moved

    def process_reassignments(self) -> dict[tuple[str, int], str]:
        """Advance every pending reassignment as far as it can go now.

        Phase 1: assignment := target + (current - target); the new replicas start
        following. Phase 2, once every target replica is in the ISR: if the leader
        is not in the target, elect the first target replica alive and in the ISR
        (leader_epoch + 1); drop removed replicas from the ISR; assignment := target;
        remove the entry. Each step is recomputed from ZooKeeper, so a new controller
        resumes where the old one stopped. Returns {(topic, p): "waiting"|"completed"}.
        """
        self._require_active()
        live = set(self.store.live_brokers()) - set(self.store.shutting_down_brokers())
        progress: dict[tuple[str, int], str] = {}
        for (name, p), target in sorted(self.store.pending_reassignments().items()):
            progress[(name, p)] = self._reassign_one(name, p, target, live, self.epoch or 0)
        return progress

    def _reassign_one(self, name: str, p: int, target: list[int], live: set[int], epoch: int) -> str:
        for _ in range(MAX_RETRIES):
            info = self.store.topic(name)
            if info is None or p not in info.partitions or not target:
                log.warning("dropping reassignment of %s-%d: no such partition or empty target", name, p)
                self.store.complete_reassignment(name, p, fenced=True)
                return "completed"
            current = info.partitions[p]
            if not set(target) <= set(current):
                # phase 1: add the new replicas (target order first, as Kafka does)
                merged = list(target) + [b for b in current if b not in target]
                if self.store.set_assignment(name, {**info.partitions, p: merged}, info.version,
                                             fenced=True) is None:
                    continue  # topic changed concurrently: re-read
                continue  # re-read: phase 2 may already be possible
            got = self.store.partition_state(name, p)
            if got is None:
                return "waiting"  # state not created yet (on_topics_changed will)
            state, state_version = got
            if current != target and not set(target) <= set(state.isr):
                return "waiting"  # new replicas still catching up
            # phase 2: leader from target, ISR within target, assignment := target, in one
            # multi-op (Kafka's B3/B4: the removed replicas never reappear in the ISR, and
            # acks=all never waits on them); the removed brokers then delete their replicas.
            if state.controller_epoch > epoch:
                self.epoch = None
                raise ControllerMovedError(f"controller epoch {state.controller_epoch} > ours {epoch}")
            isr = [b for b in state.isr if b in target]
            if state.leader in target:
                new = PartitionState(state.leader, state.leader_epoch, isr, epoch)
            else:
                candidates = [b for b in target if b in live and b in state.isr]
                if not candidates:
                    return "waiting"  # no target replica can lead yet
                new = PartitionState(candidates[0], state.leader_epoch + 1, isr, epoch)
            if current != target or new != state:
                try:
                    ok = self.store.set_assignment_and_state(name, {**info.partitions, p: list(target)}, info.version,
                                                             p, new, state_version, fenced=True)
                except ControllerMovedError:
                    self.epoch = None
                    raise
                if not ok:
                    continue  # the topic or the state changed meanwhile: re-read
                if new.leader != state.leader:
                    log.info("%s-%d: leader %d -> %d (epoch %d), isr %s", name, p, state.leader, new.leader,
                             new.leader_epoch, new.isr)
            self.store.complete_reassignment(name, p, fenced=True)
            log.info("reassignment of %s-%d to %s completed", name, p, target)
            return "completed"
        return "waiting"

    def process_controlled_shutdowns(self) -> dict[int, list[tuple[str, int]]]:
        """Kafka's ControlledShutdown for every broker that asked (status "requested"): each
        partition it leads gets a new leader among the other live in-sync replicas (leader_epoch
        + 1), and it leaves the ISR of every partition (so acks=all stops waiting for it). The
        answer, in its request znode, lists the partitions it still leads (no other replica in
        sync). Returns {broker: remaining}."""
        self._require_active()
        requests = {b: r for b, r in self.store.shutting_down_brokers().items() if r.get("status") == "requested"}
        if not requests:
            return {}
        live = set(self.store.live_brokers())
        shutting = set(self.store.shutting_down_brokers())
        remaining: dict[int, list[tuple[str, int]]] = {b: [] for b in requests}
        for name in self.store.topics():
            info = self.store.topic(name)
            if info is None:
                continue
            for p, replicas in info.partitions.items():
                if not set(requests) & set(replicas):
                    continue

                def compute(s: PartitionState, replicas: list[int] = replicas) -> PartitionState | None:
                    isr = [b for b in s.isr if b not in requests]
                    if s.leader not in requests:
                        return None if isr == s.isr else PartitionState(s.leader, s.leader_epoch, isr, s.controller_epoch)
                    candidates = [b for b in replicas if b in live and b in isr and b not in shutting]
                    if not candidates:
                        return None  # the leader stays (it is the only replica in sync)
                    return PartitionState(candidates[0], s.leader_epoch + 1, isr, s.controller_epoch)

                try:
                    self._update_state(name, p, compute)
                    got = self.store.partition_state(name, p)
                except UnknownTopicError:
                    break
                if got is not None and got[0].leader in requests:
                    remaining[got[0].leader].append((name, p))
        for b, left in remaining.items():
            self.store.answer_controlled_shutdown(b, left, fenced=True)
            log.info("controlled shutdown of broker %d: %s", b,
                     "leadership moved" if not left else f"{len(left)} partitions have no other replica in sync")
        return remaining
