"""This broker as a node of a ZooKeeper cluster: what it leads, what it follows.

`ClusterNode` is the `ClusterLink` a clustered broker is given
(server/cluster_link.py): the broker asks it the questions whose answers are
cluster-wide, and it drives the broker's partitions' roles. It mirrors the cluster's metadata (live brokers, topic assignments,
partition states) from ZooKeeper, and reconciles this broker's partitions to
it: it becomes leader (leader-epoch cache entry, `LeaderState` tracking
followers, the high watermark) or follower (a `ReplicaFetcher` per leader
broker) as the partition states say. It also runs the controller logic when
this broker wins the /controller election, keeps the ISR of the partitions it
leads (conditional writes), and allocates producer ids cluster-wide.

Threads: kazoo calls back on its own threads; every ZooKeeper call of ours and
all controller work run on one worker thread (`self.pool`), so they are
serialised; results come back to the event loop. Nothing here blocks the loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from kazoo.exceptions import BadVersionError, KazooException, NodeExistsError, NoNodeError

from pystream.cluster.assignment import assign_replicas
from pystream.cluster.controller import Controller
from pystream.cluster.zk import NO_LEADER, BrokerInfo, ClusterStore, PartitionState, TopicInfo, call_soon_threadsafe
from pystream.coordinator.offsets import OFFSETS_TOPIC, partition_for_group
from pystream.errors import LogDirectoryError, TopicExistsError
from pystream.protocol.error_codes import ErrorCode
from pystream.replication.fetcher import FollowerPartition, ReplicaFetcher
from pystream.replication.leader import (
    FollowerState,
    LeaderState,
    check_leader_epoch,
    diverging_epoch,
    offset_for_leader_epoch,
)
from pystream.replication.leader_epoch import LeaderEpochCache
from pystream.server.broker import Broker, empty_fetch_partition
from pystream.server.cluster_link import BrokerEndpoint, PartitionInfo
from pystream.server.partition import Partition
from pystream.storage.topic_config import TOPIC_CONFIG_KEYS

logger = logging.getLogger("pystream.cluster")
T = TypeVar("T")
Key = tuple[str, int]

PRODUCER_ID_BLOCK = "/latest_producer_id_block"
PRODUCER_ID_BLOCK_SIZE = 1000


@dataclass
class Snapshot:
    """What ZooKeeper said at the last read."""

    brokers: dict[int, BrokerInfo]
    topics: dict[str, TopicInfo]
    states: dict[Key, tuple[PartitionState, int]]


class ClusterNode:
    """Implements `pystream.server.cluster_link.ClusterLink` over ZooKeeper."""

    def __init__(self, broker: Broker, connect: str) -> None:
        self.broker = broker
        self.id = broker.node_id
        cfg = broker.config
        self.zk = ClusterStore(connect, session_timeout=cfg.get("zookeeper.session.timeout.ms") / 1000)
        self.controller = Controller(self.zk, self.id, unclean_leader_election=cfg.get("unclean.leader.election.enable"))
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"zk-{self.id}")
        self.view = Snapshot({}, {}, {})
        self.fetchers: dict[int, ReplicaFetcher] = {}
        self.epoch_caches: dict[Key, LeaderEpochCache] = {}
        self._kick = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._pid_next = 0
        self._pid_end = 0
        self._session_ok = True
        self._controller_id = -1

    # ----- plumbing ------------------------------------------------------------------

    async def _zk(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def kick(self) -> None:
        self._kick.set()

    def partition_opened(self, partition: Partition) -> None:
        self.kick()  # reconcile gives it its role

    async def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        b = self.broker
        b.cluster_id = await self._zk(self._cluster_id, b.cluster_id)
        await self._zk(self._register)
        kick = call_soon_threadsafe(loop, self.kick)
        lost = call_soon_threadsafe(loop, self._on_session_state)
        self.zk.on_state_change(lost)
        self.zk.watch_brokers(lambda ids: kick())
        self.zk.watch_topics(lambda names: kick())
        self.zk.watch_controller(lambda cid: kick())
        self.controller.install_watches(lambda fn: self.pool.submit(self._controller_step, fn))
        self.pool.submit(self._controller_step, self.controller.elect)
        self._tasks = [
            loop.create_task(self._reconcile_loop(), name="cluster-reconcile"),
            loop.create_task(self._isr_loop(), name="cluster-isr"),
            loop.create_task(self._controller_loop(), name="cluster-controller"),
        ]
        self.kick()

    def _register(self) -> None:
        """/brokers/ids/<id> with every listener (host/port: the inter-broker one). Runs on the ZooKeeper thread."""
        b = self.broker
        protocols = {e.name: e.protocol for e in b.security.listeners.listeners}
        endpoints = {name: (host, port, protocols[name]) for name, (host, port) in b.endpoints.items()}
        self.zk.register_broker(self.id, b.advertised_host, b.advertised_port, endpoints=endpoints)

    def _controller_step(self, fn: Callable[[], object]) -> None:
        """Runs on the ZooKeeper thread."""
        try:
            fn()
        except KazooException as e:  # session expired or connection lost: retried on reconnect
            logger.warning("controller step %s: ZooKeeper unavailable (%s)", getattr(fn, "__name__", fn), type(e).__name__)
        except Exception:
            logger.exception("controller step %s failed", getattr(fn, "__name__", fn))
        # The controller may have written partition states: look again.
        try:
            self._loop.call_soon_threadsafe(self.kick)
        except RuntimeError:
            pass  # the loop is closed: shutting down

    def _on_session_state(self, state: str) -> None:
        if state in ("LOST", "SUSPENDED"):
            if self._session_ok:
                logger.warning("ZooKeeper session %s: no longer acting as leader", state.lower())
            self._session_ok = False
            for p in self.broker.partitions.values():
                self._stop_leading(p)
        elif state == "CONNECTED" and not self._session_ok:
            self._session_ok = True
            logger.info("ZooKeeper session back: registering again")
            self.pool.submit(self._register)
            self.pool.submit(self._controller_step, self.controller.elect)
            self.kick()

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for f in self.fetchers.values():
            await f.stop()
        self.fetchers.clear()
        for p in self.broker.partitions.values():
            self._stop_leading(p)
        try:
            if self.controller.active:
                await self._zk(self.controller.resign)
        except Exception:
            pass
        await self._zk(self.zk.close)
        self.pool.shutdown(wait=False)

    # ----- reading the cluster -----------------------------------------------------------

    def _read_all(self) -> Snapshot:
        cid = self.zk.controller_id()
        self._controller_id = -1 if cid is None else cid
        brokers = self.zk.live_brokers()
        topics: dict[str, TopicInfo] = {}
        states: dict[Key, tuple[PartitionState, int]] = {}
        for name in self.zk.topics():
            info = self.zk.topic(name)
            if info is None:
                continue
            topics[name] = info
            for p, sv in self.zk.partition_states(name).items():
                states[(name, p)] = sv
        return Snapshot(brokers, topics, states)

    async def _reconcile_loop(self) -> None:
        while True:
            try:
                # Partition states have no watch of their own: look at least twice a second.
                await asyncio.wait_for(self._kick.wait(), timeout=0.5)
            except asyncio.TimeoutError:
                pass
            self._kick.clear()
            try:
                self.view = await self._zk(self._read_all)
                await self._reconcile()
            except asyncio.CancelledError:
                raise
            except KazooException as e:
                logger.warning("ZooKeeper unavailable (%s); retrying", type(e).__name__)
                await asyncio.sleep(0.5)
            except Exception:
                logger.exception("reconciling with ZooKeeper failed; retrying")
                await asyncio.sleep(0.5)

    async def _reconcile(self) -> None:
        b = self.broker
        local = b.store.list_topics(include_internal=True)
        for name, info in self.view.topics.items():
            n = len(info.partitions)
            if name not in local:
                b.store.create_topic(name, partitions=n, config=_local_config(info.config))
            elif local[name] < n:
                b.store.create_partitions(name, n)
        for name in list(local):
            if name not in self.view.topics and name != OFFSETS_TOPIC:
                logger.info("topic %s was deleted from the cluster: deleting its local replicas", name)
                for key in [k for k in b.partitions if k[0] == name]:
                    self._stop_following(key)
                    self._stop_leading(b.partitions[key])
                await b.delete_local_topics([name])
        if not self._session_ok:
            return
        for (topic, p), (state, version) in self.view.states.items():
            _version = version
            info = self.view.topics.get(topic)
            replicas = info.partitions.get(p, []) if info else []
            try:
                part = b.partition(topic, p)
            except LogDirectoryError as e:
                logger.error("%s: cannot take up its role", e)
                continue
            if part is None:
                continue
            if self.id not in replicas:
                self._stop_following((topic, p))
                self._stop_leading(part)
                part.role = None
                continue
            if state.leader == self.id:
                if part.role != "leader" or part.leader_epoch != state.leader_epoch:
                    self._become_leader(part, state, replicas)
                    part.isr_version = version
                elif part.leader_state is not None:
                    ls = _leader_state(part)
                    ls.replicas = list(replicas)
                    for r in replicas:
                        if r != self.id and r not in ls.followers:
                            ls.followers[r] = FollowerState(last_caught_up_time=0.0)  # a replica added by reassignment
                    if _version > part.isr_version and set(state.isr) | {self.id} != ls.isr:
                        # The controller changed the ISR (a dead broker removed): take it at once.
                        # (Only a newer znode version: this snapshot may predate our own write.)
                        ls.set_isr(state.isr, part.log.end_offset)
                        part.isr_version = _version
            elif state.leader != NO_LEADER and state.leader in self.view.brokers:
                if part.role != "follower" or part.leader_epoch != state.leader_epoch or part.leader_id != state.leader:
                    self._become_follower(part, state)
            else:
                self._stop_following((topic, p))
                self._stop_leading(part)
                part.role = None
                part.leader_id = NO_LEADER

    # ----- becoming leader or follower ---------------------------------------------------

    def epoch_cache(self, part: Partition) -> LeaderEpochCache:
        key = (part.topic, part.index)
        cache = self.epoch_caches.get(key)
        if cache is None:
            cache = self.epoch_caches[key] = LeaderEpochCache(part.log.path)
            if not cache.entries and part.log.end_offset > part.log.start_offset:
                cache.rebuild_from_log(part.log)
        return cache

    def _become_leader(self, part: Partition, state: PartitionState, replicas: list[int]) -> None:
        follower = self._stop_following((part.topic, part.index))
        self._stop_leading(part)
        log = part.log
        cache = self.epoch_cache(part)
        cache.assign(state.leader_epoch, log.end_offset)
        log.leader_epoch = state.leader_epoch
        hw = follower.high_watermark if follower is not None else part.hw_hint
        part.leader_state = LeaderState(
            self.id, replicas, state.isr, state.leader_epoch,
            replica_lag_time_max_ms=self.broker.config.get("replica.lag.time.max.ms"),
            high_watermark=min(hw, log.end_offset), leader_epoch_start_offset=log.end_offset)
        part.leader_state.high_watermark(log.end_offset)
        part.role, part.leader_epoch, part.leader_id = "leader", state.leader_epoch, self.id
        logger.info("%s-%d: leader in epoch %d, ISR %s, end offset %d", part.topic, part.index, state.leader_epoch,
                    sorted(state.isr), log.end_offset)
        if part.topic == OFFSETS_TOPIC:
            self.broker.offsets.unload_partition(part.index)  # replay what was replicated here
        part.notify_append()

    def _become_follower(self, part: Partition, state: PartitionState) -> None:
        key = (part.topic, part.index)
        self._stop_following(key)
        hw_hint = self._stop_leading(part)
        leader_info = self.view.brokers[state.leader]
        # The leader as reached through the inter-broker listener (TLS/SASL as that listener says).
        host, port = leader_info.endpoints.get(self.broker.security.listeners.inter_broker, (leader_info.host, leader_info.port))
        fp = FollowerPartition(part.topic, part.index, part.log, part.producer_state, self.epoch_cache(part),
                               state.leader_epoch, high_watermark=min(hw_hint, part.log.end_offset))
        fetcher = self.fetchers.get(state.leader)
        if fetcher is not None and (fetcher.leader_host, fetcher.leader_port) != (host, port):
            asyncio.get_running_loop().create_task(fetcher.stop())
            fetcher = None
        if fetcher is None:
            fetcher = self.fetchers[state.leader] = ReplicaFetcher(
                self.id, host, port, max_wait_ms=self.broker.config.get("replica.fetch.wait.max.ms"),
                backoff_ms=200, max_backoff_ms=2000, on_error=self._on_fetch_error, on_append=self._on_follower_append,
                security=self.broker.security.inter_broker_security())
            fetcher.start()
        fetcher.add_partitions({key: fp})
        part.follower = fp
        part.role, part.leader_epoch, part.leader_id = "follower", state.leader_epoch, state.leader
        logger.info("%s-%d: following broker %d in epoch %d", part.topic, part.index, state.leader, state.leader_epoch)
        if part.topic == OFFSETS_TOPIC:
            self.broker.offsets.unload_partition(part.index)

    def _stop_following(self, key: Key) -> FollowerPartition | None:
        part = self.broker.partitions.get(key)
        removed = None
        for f in self.fetchers.values():
            removed = f.remove_partitions([key]).get(key) or removed
        if part is not None and part.follower is not None:
            part.hw_hint = max(part.hw_hint, part.follower.high_watermark)
            part.follower = None
        return removed

    def _stop_leading(self, part: Partition) -> int:
        """Ends leadership (acks=all waiters get False); returns the last high watermark."""
        ls = _leader_state(part)
        if ls is not None:
            part.hw_hint = max(part.hw_hint, ls.hw)
            ls.close()
            part.leader_state = None
            if part.role == "leader":
                part.role = None
            part.notify_append()
        return part.hw_hint

    def _on_fetch_error(self, key: Key, code: int, message: str) -> None:
        logger.info("fetching %s-%d: %s (%s); looking up the partition state again", key[0], key[1],
                    ErrorCode(code).name if code in ErrorCode._value2member_map_ else code, message)
        self.kick()

    def _on_follower_append(self, fp: FollowerPartition) -> None:
        part = self.broker.partitions.get(fp.key)
        if part is not None:
            part.notify_append()

    # ----- the leader's duties ---------------------------------------------------------------

    def read_for_follower(self, topic: str, fp: dict[str, Any], replica_id: int, max_bytes: int) -> dict[str, Any]:
        """One partition of a follower's Fetch: records up to the log end, the leader's high
        watermark, and the follower's progress recorded (it may move the high watermark)."""
        index, offset = fp["partition"], fp["fetch_offset"]
        out = empty_fetch_partition(index)
        p, err = self.broker.leader_partition(topic, index)
        if p is None:
            out["error_code"] = err
            return out
        ls = _leader_state(p)
        if ls is None or not ls.is_replica(replica_id):
            out["error_code"] = ErrorCode.NOT_LEADER_OR_FOLLOWER
            return out
        err = check_leader_epoch(ls.leader_epoch, fp.get("current_leader_epoch", -1))
        if err:
            out["error_code"] = err
            return out
        log = p.log
        cache = self.epoch_cache(p)
        if div := diverging_epoch(cache, log.end_offset, fp.get("last_fetched_epoch", -1), offset):
            out["diverging_epoch"] = {"epoch": div[0], "end_offset": div[1]}
            out["high_watermark"] = out["last_stable_offset"] = ls.hw
            out["log_start_offset"] = log.start_offset
            return out
        if ls.on_follower_fetch(replica_id, offset, log.end_offset):
            p.notify_append()  # the high watermark moved: consumers may read further
        out["high_watermark"] = out["last_stable_offset"] = ls.hw
        out["log_start_offset"] = log.start_offset
        if not log.start_offset <= offset <= log.end_offset:
            out["error_code"] = ErrorCode.OFFSET_OUT_OF_RANGE
            return out
        out["records"] = log.read(offset, max_bytes) if offset < log.end_offset and max_bytes > 0 else b""
        return out

    def end_offset_for_epoch(self, partition: Partition, current_epoch: int, epoch: int) -> tuple[int, int, int]:
        """OffsetForLeaderEpoch of a partition this broker leads: (error, epoch, end offset)."""
        return offset_for_leader_epoch(self.epoch_cache(partition), partition.log.end_offset, partition.leader_epoch,
                                       current_epoch, epoch)

    async def _isr_loop(self) -> None:
        """Shrinks and expands the ISR of the partitions this broker leads (conditional writes)."""
        while True:
            await asyncio.sleep(0.25)
            for key, part in list(self.broker.partitions.items()):
                ls = _leader_state(part)
                if ls is None or not self._session_ok:
                    continue
                new_isr = ls.isr_changes(leader_leo=part.log.end_offset)
                if new_isr is None:
                    continue
                sv = self.view.states.get(key)
                if sv is None:
                    continue
                state, version = sv
                if state.leader != self.id or state.leader_epoch != ls.leader_epoch:
                    continue
                new_state = PartitionState(self.id, state.leader_epoch, sorted(new_isr), state.controller_epoch)
                try:
                    new_version = await self._zk(self.zk.update_partition_state, key[0], key[1], new_state, version)
                except Exception:
                    logger.exception("ISR update of %s-%d failed", *key)
                    continue
                if new_version is None:
                    self.kick()  # someone else changed the state: re-read
                    continue
                self.view.states[key] = (new_state, new_version)
                part.isr_version = new_version
                old = sorted(ls.isr)
                ls.set_isr(new_isr, part.log.end_offset)
                if len(new_isr) < len(old):
                    self.broker.metrics.isr_shrinks += 1
                else:
                    self.broker.metrics.isr_expands += 1
                logger.info("%s-%d: ISR %s -> %s", key[0], key[1], old, sorted(new_isr))
                part.notify_append()

    async def _controller_loop(self) -> None:
        """Reassignment progress and preferred-leader elections, while this broker is controller."""
        cfg = self.broker.config
        rebalance_every = cfg.get("leader.imbalance.check.interval.seconds")
        ticks = 0
        pending: Future[None] | None = None
        while True:
            await asyncio.sleep(0.5)
            ticks += 1
            if not self.controller.active:
                continue
            # One tick at a time: ticks must not pile up on the ZooKeeper thread ahead of
            # the reads that reconcile this broker.
            if pending is None or pending.done():
                pending = self.pool.submit(self._controller_step, self._reassignment_tick)
            if cfg.get("auto.leader.rebalance.enable") and ticks % max(1, int(rebalance_every * 2)) == 0:
                self.pool.submit(self._controller_step, self.controller.elect_preferred_leaders)

    def _reassignment_tick(self) -> None:
        """On the ZooKeeper thread: move pending reassignments on (phase 2 needs the new
        replicas in the ISR, which no watch reports)."""
        if self.zk.pending_reassignments():
            self.controller.process_reassignments()

    # ----- requests that need the cluster --------------------------------------------------

    @property
    def controller_id(self) -> int:
        return self._controller_id

    @property
    def is_controller(self) -> bool:
        return self.controller.active

    def leader_of(self, topic: str, partition: int) -> int:
        sv = self.view.states.get((topic, partition))
        return sv[0].leader if sv else NO_LEADER

    def coordinator_for(self, group: str) -> BrokerEndpoint | None:
        n = len(self.view.topics[OFFSETS_TOPIC].partitions) if OFFSETS_TOPIC in self.view.topics else 0
        if n == 0:
            return None
        leader = self.view.brokers.get(self.leader_of(OFFSETS_TOPIC, partition_for_group(group, n)))
        return None if leader is None else _endpoint(leader)

    def is_coordinator(self, group: str) -> bool:
        c = self.coordinator_for(group)
        if c is None or c.node_id != self.id:
            return False
        n = len(self.view.topics[OFFSETS_TOPIC].partitions)
        part = self.broker.partitions.get((OFFSETS_TOPIC, partition_for_group(group, n)))
        return part is not None and part.role == "leader"

    async def offsets_replicated(self, group: str, timeout: float = 10.0) -> bool:
        """Waits until the group's offsets partition's in-sync replicas have everything
        appended to it so far (what acks=all means for a commit)."""
        n = len(self.view.topics[OFFSETS_TOPIC].partitions) if OFFSETS_TOPIC in self.view.topics else 0
        part = self.broker.partitions.get((OFFSETS_TOPIC, partition_for_group(group, n))) if n else None
        if part is None or part.leader_state is None:
            return False
        end = part.log.end_offset
        part.leader_state.high_watermark(end)
        part.notify_append()  # wake the followers' parked fetches: they carry the commit over
        return await part.leader_state.wait_for_hw(end, timeout)

    async def ensure_offsets_topic(self) -> None:
        if OFFSETS_TOPIC in self.view.topics:
            return
        rf = min(self.broker.config.get("offsets.topic.replication.factor"), max(1, len(await self.live_brokers())))
        n = self.broker.config.get("offsets.topic.num.partitions")
        try:
            await self.create_topic(OFFSETS_TOPIC, n, rf, {}, wait=False)
        except TopicExistsError:
            pass  # another broker created it; this broker's view has not caught up yet

    async def create_topic(self, name: str, partitions: int, replication_factor: int, config: dict[str, Any],
                           wait: bool = True, timeout: float = 10.0) -> None:
        """Writes the topic's assignment to ZooKeeper; the controller then elects its leaders.
        Raises ValueError for a replication factor above the live brokers, TopicExists from the store."""
        live = sorted(await self.live_brokers())
        assignment = assign_replicas(live, partitions, replication_factor)
        await self._zk(lambda: self.zk.create_topic(name, assignment, config))
        self.kick()
        if wait:
            deadline = asyncio.get_running_loop().time() + timeout
            while asyncio.get_running_loop().time() < deadline:
                states = await self._zk(self.zk.partition_states, name)
                if len(states) == partitions and all(s.leader != NO_LEADER for s, _v in states.values()):
                    self.kick()
                    return
                await asyncio.sleep(0.05)

    async def live_brokers(self) -> dict[int, BrokerInfo]:
        """The registered brokers, read now (the mirrored view may lag right after start)."""
        brokers = await self._zk(self.zk.live_brokers)
        self.view.brokers = brokers
        return brokers

    async def live_broker_count(self) -> int:
        return len(await self.live_brokers())

    def brokers(self) -> list[BrokerEndpoint]:
        return [_endpoint(b) for _i, b in sorted(self.view.brokers.items())]

    def is_live_broker(self, broker_id: int) -> bool:
        return broker_id in self.view.brokers

    def topic_partitions(self) -> dict[str, int]:
        return {n: len(t.partitions) for n, t in sorted(self.view.topics.items())}

    def topic_partition_count(self, name: str) -> int | None:
        info = self.view.topics.get(name)
        return None if info is None else len(info.partitions)

    def partition_info(self, topic: str, index: int) -> PartitionInfo | None:
        info = self.view.topics.get(topic)
        if info is None or index not in info.partitions:
            return None
        replicas = info.partitions[index]
        sv = self.view.states.get((topic, index))
        if sv is None:
            return PartitionInfo(replicas)
        state = sv[0]
        live = state.leader in self.view.brokers
        return PartitionInfo(replicas, state.leader if live else NO_LEADER, state.leader_epoch, tuple(state.isr),
                             tuple(r for r in replicas if r not in self.view.brokers))

    async def request_reassignment(self, moves: dict[Key, list[int]]) -> None:
        await self._zk(self.zk.request_reassignment, moves)

    async def pending_reassignments(self) -> dict[Key, list[int]]:
        return await self._zk(self.zk.pending_reassignments)

    async def delete_topic(self, name: str) -> None:
        await self._zk(self.zk.delete_topic, name)
        self.kick()

    def topic_id(self, name: str) -> uuid.UUID | None:
        info = self.view.topics.get(name)
        return uuid.UUID(info.topic_id) if info else None

    async def allocate_producer_id(self) -> int:
        if self._pid_next >= self._pid_end:
            self._pid_next, self._pid_end = await self._zk(self._reserve_producer_ids)
        pid = self._pid_next
        self._pid_next += 1
        return pid

    def _cluster_id(self, proposal: str) -> str:
        """The cluster's id (/cluster/id): the first broker's proposal wins."""
        try:
            self.zk.client.create("/cluster/id", json.dumps({"version": "1", "id": proposal}).encode(), makepath=True)
        except NodeExistsError:
            pass
        data, _ = self.zk.client.get("/cluster/id")
        return str(json.loads(data.decode())["id"])

    def _reserve_producer_ids(self) -> tuple[int, int]:
        """Kafka's /latest_producer_id_block: blocks handed out with a conditional write."""
        client = self.zk.client
        while True:
            try:
                data, stat = client.get(PRODUCER_ID_BLOCK)
                start = json.loads(data.decode())["end"] if data else 0
                end = start + PRODUCER_ID_BLOCK_SIZE
                client.set(PRODUCER_ID_BLOCK, json.dumps({"version": 1, "broker": self.id, "start": start, "end": end}).encode(),
                           version=stat.version)
                return start, end
            except NoNodeError:
                try:
                    client.create(PRODUCER_ID_BLOCK, b"", makepath=True)
                except NodeExistsError:
                    pass
            except BadVersionError:
                continue


def _leader_state(part: Partition) -> LeaderState | None:
    """The partition's leader state: always a `LeaderState`, set by this module only."""
    ls = part.leader_state
    assert ls is None or isinstance(ls, LeaderState)
    return ls


def _endpoint(b: BrokerInfo) -> BrokerEndpoint:
    return BrokerEndpoint(b.id, b.host, b.port, b.rack, b.endpoints)


def _local_config(config: dict[str, Any]) -> dict[str, Any]:
    """The topic configs the local log store understands."""
    return {k: v for k, v in config.items() if k in TOPIC_CONFIG_KEYS and v is not None}
