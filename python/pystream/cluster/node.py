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
from functools import partial
from typing import Any, TypeVar

from kazoo.exceptions import BadVersionError, KazooException, NodeExistsError, NoNodeError

from pystream.cluster.assignment import assign_replicas
from pystream.cluster.controller import Controller
from pystream.cluster.zk import (
    NO_LEADER,
    BrokerIdTakenError,
    BrokerInfo,
    ClusterStore,
    PartitionState,
    TopicInfo,
    Watch,
    call_soon_threadsafe,
)
from pystream.coordinator.offsets import OFFSETS_TOPIC, OFFSETS_TOPIC_CONFIG, partition_for_group
from pystream.coordinator.txn_log import TXN_STATE_TOPIC, partition_for_txn, txn_state_topic_config
from pystream.errors import LogDirectoryError, TopicExistsError, UnknownTopicError
from pystream.protocol.error_codes import ErrorCode
from pystream.protocol.schema_data import ApiKey
from pystream.replication.fetcher import FollowerPartition, ReplicaFetcher
from pystream.replication.hw_checkpoint import read_hw_checkpoint, write_hw_checkpoint
from pystream.replication.leader import (
    LeaderState,
    check_leader_epoch,
    diverging_epoch,
    offset_for_leader_epoch,
)
from pystream.replication.connection import BrokerConnection, KafkaConnectionError, KafkaError
from pystream.replication.leader_epoch import LeaderEpochCache
from pystream.server.broker import Broker, empty_fetch_partition
from pystream.server.cluster_link import BrokerEndpoint, PartitionInfo
from pystream.server.partition import Partition
from pystream.storage.topic_config import TOPIC_CONFIG_KEYS, normalize_topic_config

logger = logging.getLogger("pystream.cluster")
T = TypeVar("T")
Key = tuple[str, int]

PRODUCER_ID_BLOCK = "/latest_producer_id_block"
PRODUCER_ID_BLOCK_SIZE = 1000
# Watches say what changed; a full re-read this often catches anything a watch missed.
RESYNC_INTERVAL_S = 10.0


@dataclass
class Snapshot:
    """What ZooKeeper said at the last read."""

    brokers: dict[int, BrokerInfo]
    topics: dict[str, TopicInfo]
    states: dict[Key, tuple[PartitionState, int]]
    configs: dict[str, dict[str, str]]  # topic -> its config overrides (/config/topics)


class ClusterNode:
    """Implements `pystream.server.cluster_link.ClusterLink` over ZooKeeper."""

    def __init__(self, broker: Broker, connect: str) -> None:
        self.broker = broker
        self.id = broker.node_id
        cfg = broker.config
        self.zk = ClusterStore(connect, session_timeout=cfg.get("zookeeper.session.timeout.ms") / 1000)
        self.controller = Controller(self.zk, self.id, unclean_leader_election=cfg.get("unclean.leader.election.enable"))
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"zk-{self.id}")
        self.view = Snapshot({}, {}, {}, {})
        self.fetchers: dict[int, ReplicaFetcher] = {}
        self.epoch_caches: dict[Key, LeaderEpochCache] = {}
        self._kick = asyncio.Event()
        self._full_read = True  # the next round re-reads everything
        self._dirty_states: set[Key] = set()  # partition states to re-read in the next round
        self._controller_kick = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._pid_next = 0
        self._pid_end = 0
        self._session_ok = True
        self._controller_id = -1
        self._closing = False  # close() began: session loss is expected, not news
        self._shutting_down = False  # controlled shutdown: follow nothing (never rejoin an ISR)
        self._deleted: set[Key] = set()  # not replicas here, local data deleted
        self._watches: dict[str, Watch] = {}  # znode path -> watch (topics, their configs, states)
        self._hw_checkpoint = read_hw_checkpoint(broker.config.data_dir)
        self._background: set[asyncio.Task[None]] = set()
        self._txn_conns: dict[int, BrokerConnection] = {}  # broker id -> connection for WriteTxnMarkers and KIP-890 checks

    # ----- plumbing ------------------------------------------------------------------

    async def _zk(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def kick(self) -> None:
        """Reconcile soon, with the view as it is (plus whatever is marked to re-read)."""
        self._kick.set()

    def refresh(self) -> None:
        """Re-read the whole cluster view, then reconcile (brokers, topics, controller, configs)."""
        self._full_read = True
        self._kick.set()

    def refresh_state(self, key: Key) -> None:
        """Re-read one partition's state znode, then reconcile (its watch fired, or a write lost)."""
        self._dirty_states.add(key)
        self._kick.set()

    def partition_opened(self, partition: Partition) -> None:
        # The checkpointed high watermark, until leading or following says better.
        partition.hw_hint = min(self._hw_checkpoint.get((partition.topic, partition.index), 0),
                                partition.log.end_offset)
        self.kick()  # reconcile gives it its role

    def hosts_replica(self, topic: str, index: int) -> bool:
        info = self.view.topics.get(topic)
        return info is not None and self.id in info.partitions.get(index, ())

    def _spawn(self, coro: Any) -> None:
        """Runs `coro` in the background, keeping a reference until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        b = self.broker
        b.cluster_id = await self._zk(self._cluster_id, b.cluster_id)
        await self._register()
        refresh = self._refresh_threadsafe = call_soon_threadsafe(loop, self.refresh)
        self._refresh_state_threadsafe = call_soon_threadsafe(loop, self.refresh_state)
        lost = call_soon_threadsafe(loop, self._on_session_state)
        self.zk.on_state_change(lost)
        self.zk.watch_brokers(lambda ids: refresh())
        self.zk.watch_topics(lambda names: refresh())
        self.zk.watch_controller(lambda cid: refresh())
        self.controller.install_watches(lambda fn: self.pool.submit(self._controller_step, fn))
        self.pool.submit(self._controller_step, self.controller.elect)
        self.view = await self._zk(self._read_all)  # Metadata answers from the first request on
        self._full_read = False
        self._tasks = [
            loop.create_task(self._reconcile_loop(), name="cluster-reconcile"),
            loop.create_task(self._isr_loop(), name="cluster-isr"),
            loop.create_task(self._controller_loop(), name="cluster-controller"),
            loop.create_task(self._hw_checkpoint_loop(), name="cluster-hw-checkpoint"),
        ]
        self.kick()

    def _register_now(self) -> None:
        """/brokers/ids/<id> with every listener (host/port: the inter-broker one). Runs on the ZooKeeper thread."""
        b = self.broker
        protocols = {e.name: e.protocol for e in b.security.listeners.listeners}
        endpoints = {name: (host, port, protocols[name]) for name, (host, port) in b.endpoints.items()}
        self.zk.register_broker(self.id, b.advertised_host, b.advertised_port, endpoints=endpoints)

    async def _register(self) -> None:
        """Registers in /brokers/ids. A restart right after a crash finds the old session's
        znode: wait for that session to expire (as Kafka does since KAFKA-7165), bounded."""
        b = self.broker
        loop = asyncio.get_running_loop()
        deadline = loop.time() + b.config.get("zookeeper.session.timeout.ms") / 1000 + 5
        while True:
            try:
                await self._zk(self._register_now)
                return
            except BrokerIdTakenError as e:
                if loop.time() > deadline:
                    raise
                logger.info("%s; waiting for that session to expire", e)
                await asyncio.sleep(0.5)

    def _controller_step(self, fn: Callable[[], object]) -> None:
        """Runs on the ZooKeeper thread. (What it writes reaches every broker, this one too,
        through the watches.)"""
        try:
            fn()
        except KazooException as e:  # session expired or connection lost: retried on reconnect
            if not self._closing:
                logger.warning("controller step %s: ZooKeeper unavailable (%s)", getattr(fn, "__name__", fn),
                               type(e).__name__)
        except Exception:
            logger.exception("controller step %s failed", getattr(fn, "__name__", fn))

    def _on_session_state(self, state: str) -> None:
        if self._closing:
            return  # our own close() ends the session
        if state in ("LOST", "SUSPENDED"):
            if self._session_ok:
                logger.warning("ZooKeeper session %s: no longer acting as leader", state.lower())
            self._session_ok = False
            for p in self.broker.partitions.values():
                self._stop_leading(p)
        elif state == "CONNECTED" and not self._session_ok:
            self._session_ok = True
            logger.info("ZooKeeper session back: registering again")
            self.pool.submit(self._register_now)
            self.pool.submit(self._controller_step, self.controller.elect)
            self.refresh()

    async def close(self) -> None:
        self._closing = True
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, *self._background, return_exceptions=True)
        for f in self.fetchers.values():
            await f.stop()
        self.fetchers.clear()
        for key in list(self.broker.partitions):
            self._stop_following(key)
        for conn in self._txn_conns.values():
            await conn.close()
        self._txn_conns.clear()
        for p in self.broker.partitions.values():
            self._stop_leading(p)
        self._save_hw_checkpoint()
        try:
            if self.controller.active:
                await self._zk(self.controller.resign)
        except Exception:
            pass
        for w in list(self._watches.values()):
            w.cancel()
        await self._zk(self.zk.close)
        self.pool.shutdown(wait=False)

    # ----- controlled shutdown -----------------------------------------------------------

    async def controlled_shutdown(self) -> None:
        """Kafka's controlled shutdown: stop following (so this broker never rejoins an ISR),
        ask the controller to move leadership to other in-sync replicas and to drop this broker
        from every ISR, and wait for the answer; retried (controlled.shutdown.max.retries, after
        controlled.shutdown.retry.backoff.ms) while partitions remain and another broker could
        take them; bounded."""
        cfg = self.broker.config
        if not cfg.get("controlled.shutdown.enable") or not self._session_ok:
            return
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        self._shutting_down = True
        for key in [k for k, p in self.broker.partitions.items() if p.follower is not None]:
            self._stop_following(key)
            self.broker.partitions[key].role = None
        await self._stop_idle_fetchers()
        wait_s = cfg.get("zookeeper.session.timeout.ms") / 1000 + 2  # a new controller may be elected meanwhile
        retries = max(1, cfg.get("controlled.shutdown.max.retries"))
        remaining: list[Any] | None = None
        try:
            for attempt in range(1, retries + 1):
                await self._zk(self.zk.request_controlled_shutdown, self.id)
                deadline = loop.time() + wait_s
                answer = None
                while loop.time() < deadline:
                    answer = await self._zk(self.zk.controlled_shutdown_status, self.id)
                    if answer is not None and answer.get("status") == "done":
                        break
                    await asyncio.sleep(0.02)
                remaining = answer.get("remaining") if answer and answer.get("status") == "done" else None
                if remaining == []:
                    break
                if attempt == retries or not await self._others_staying():
                    break
                logger.info("controlled shutdown: %s; retrying in %d ms",
                            "no answer from the controller" if remaining is None else
                            f"{len(remaining)} partitions still led here", cfg.get("controlled.shutdown.retry.backoff.ms"))
                backoff_end = loop.time() + cfg.get("controlled.shutdown.retry.backoff.ms") / 1000
                while loop.time() < backoff_end and await self._others_staying():
                    await asyncio.sleep(0.2)  # (the whole cluster stopping: no one to hand over to)
            # Take the new partition states now: stop leading what moved.
            self.view = await self._zk(self._read_all)
            await self._reconcile()
        except Exception as e:  # ZooKeeper gone: shut down anyway
            logger.info("controlled shutdown interrupted: %s", e)
        if remaining == []:
            logger.info("controlled shutdown: leadership moved to other replicas in %.2f s", loop.time() - t0)
            return
        why = "no answer" if remaining is None else f"{len(remaining)} partitions had no other replica in sync"
        try:
            alone = not await self._others_staying()
        except Exception:
            alone = False
        # The last broker of a cluster being stopped has no one to hand over to: nothing unusual.
        logger.log(logging.INFO if alone else logging.WARNING,
                   "controlled shutdown incomplete after %.1f s (%s%s); shutting down anyway", loop.time() - t0, why,
                   ", no other broker staying" if alone else "")

    async def _others_staying(self) -> bool:
        """Whether some other live broker is not shutting down (could take over leadership)."""
        live = await self._zk(self.zk.live_brokers)
        return bool(set(live) - set(await self._zk(self.zk.shutting_down_brokers)) - {self.id})

    # ----- reading the cluster -----------------------------------------------------------

    def _read_all(self) -> Snapshot:
        """On the ZooKeeper thread: the whole cluster view, with a watch on every znode it read:
        a topic or config change triggers the next full read, a partition state change a
        re-read of that state only (ISR changes are frequent; there may be thousands)."""
        cid = self.zk.controller_id()
        self._controller_id = -1 if cid is None else cid
        brokers = self.zk.live_brokers()
        topics: dict[str, TopicInfo] = {}
        states: dict[Key, tuple[PartitionState, int]] = {}
        configs: dict[str, dict[str, str]] = {}
        wanted: dict[str, tuple[Key | None, int | None]] = {}  # path -> (state key, version read)
        for name in self.zk.topics():
            info = self.zk.topic(name)
            if info is None:
                continue
            topics[name] = info
            configs[name], config_version = self.zk.topic_config(name)
            wanted[self.zk.topic_path(name)] = (None, info.version)
            wanted[self.zk.topic_config_path(name)] = (None, None if config_version < 0 else config_version)
            for p, sv in self.zk.partition_states(name).items():
                states[(name, p)] = sv
            for p in info.partitions:
                sv = states.get((name, p))
                wanted[self.zk.state_path(name, p)] = ((name, p), None if sv is None else sv[1])
        for path in set(self._watches) - set(wanted):
            self._watches.pop(path).cancel()
        for path in set(wanted) - set(self._watches):
            # (A znode that changed since it was read above fires at once.)
            key, version = wanted[path]
            callback = self._refresh_threadsafe if key is None else partial(self._refresh_state_threadsafe, key)
            self._watches[path] = self.zk.watch_path(path, callback, version)
        return Snapshot(brokers, topics, states, configs)

    def _read_states(self, keys: set[Key]) -> dict[Key, tuple[PartitionState, int] | None]:
        """On the ZooKeeper thread: these partitions' states now (None: gone)."""
        return {key: self.zk.partition_state(*key) for key in keys}

    async def _reconcile_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last_full = loop.time()
        while True:
            try:
                await asyncio.wait_for(self._kick.wait(), timeout=RESYNC_INTERVAL_S)
            except TimeoutError:
                pass
            self._kick.clear()
            if loop.time() - last_full >= RESYNC_INTERVAL_S:
                self._full_read = True  # the safety net: a full re-read now and then
            full, self._full_read = self._full_read, False
            dirty, self._dirty_states = self._dirty_states, set()
            try:
                if full:
                    self.view = await self._zk(self._read_all)
                    last_full = loop.time()
                elif dirty:
                    for key, sv in (await self._zk(self._read_states, dirty)).items():
                        if sv is None:
                            self.view.states.pop(key, None)
                        elif key[0] in self.view.topics:
                            self.view.states[key] = sv
                if full or dirty:
                    self._controller_kick.set()  # something changed: the controller may move on
                await self._reconcile()
            except asyncio.CancelledError:
                raise
            except KazooException as e:
                logger.warning("ZooKeeper unavailable (%s); retrying", type(e).__name__)
                self._full_read = True
                await asyncio.sleep(0.5)
            except Exception:
                logger.exception("reconciling with ZooKeeper failed; retrying")
                self._full_read = True
                await asyncio.sleep(0.5)

    async def _reconcile(self) -> None:
        b = self.broker
        local = b.store.list_topics(include_internal=True)
        for name, info in self.view.topics.items():
            n = len(info.partitions)
            config = _local_config(self.view.configs.get(name, {}))
            if name not in local:
                b.store.create_topic(name, partitions=n, config=config)
                continue
            if local[name] < n:
                b.store.create_partitions(name, n)  # CreatePartitions: the new ones start empty
            if name != OFFSETS_TOPIC:  # (its local config is the broker's own: OFFSETS_TOPIC_CONFIG)
                self._apply_topic_config(name, config)
        for name in list(local):
            if name not in self.view.topics and name not in (OFFSETS_TOPIC, TXN_STATE_TOPIC):
                await self._delete_local_topic(name)
        if not self._session_ok:
            return
        for (topic, p), (state, version) in self.view.states.items():
            info = self.view.topics.get(topic)
            replicas = info.partitions.get(p, []) if info else []
            key = (topic, p)
            if self.id not in replicas:
                self._stop_replica(key, delete=True)  # moved away (Kafka's StopReplica with delete)
                continue
            self._deleted.discard(key)
            try:
                part = b.partition(topic, p)
            except LogDirectoryError as e:
                logger.error("%s: cannot take up its role", e)
                continue
            if part is None:
                continue
            if state.leader == self.id:
                if part.role != "leader" or part.leader_epoch != state.leader_epoch:
                    self._become_leader(part, state, replicas)
                    part.isr_version = version
                elif (ls := _leader_state(part)) is not None:
                    if ls.replicas != replicas:  # reassignment added or removed replicas
                        ls.set_replicas(replicas)
                        ls.high_watermark(part.log.end_offset)
                        part.notify_append()
                    if version > part.isr_version:
                        # The controller changed the ISR (a dead broker removed): take it at once.
                        # (Only a newer znode version: this snapshot may predate our own write.)
                        isr = [r for r in state.isr if r in replicas]
                        if set(isr) | {self.id} != ls.isr:
                            ls.set_isr(isr, part.log.end_offset)
                            part.notify_append()
                        part.isr_version = version
            elif state.leader != NO_LEADER and state.leader in self.view.brokers and not self._shutting_down:
                if part.role != "follower" or part.leader_epoch != state.leader_epoch or part.leader_id != state.leader:
                    self._become_follower(part, state)
            else:
                self._stop_replica(key, delete=False)
                part.leader_id = state.leader if state.leader in self.view.brokers else NO_LEADER
        await self._stop_idle_fetchers()

    def _stop_replica(self, key: Key, delete: bool) -> None:
        """Neither lead nor follow `key`; with `delete`, also delete its local log (once)."""
        b = self.broker
        part = b.partitions.get(key)
        self._stop_following(key)
        if part is not None:
            self._stop_leading(part)
            part.role = None
        if delete and key not in self._deleted:
            self._deleted.add(key)
            b.forget_partition(key)
            self.epoch_caches.pop(key, None)
            if key[0] == OFFSETS_TOPIC:
                b.offsets.unload_partition(key[1])
            if b.store.delete_partition(*key):
                logger.info("%s-%d: not a replica here any more: local log deleted", *key)

    async def _stop_idle_fetchers(self) -> None:
        """A fetcher whose leader leads none of our replicas any more (it died, leadership
        moved) is stopped, so it does not keep reconnecting to a dead broker."""
        for leader_id, f in list(self.fetchers.items()):
            if not f.partitions:
                del self.fetchers[leader_id]
                logger.debug("no replica to fetch from broker %d: fetcher stopped", leader_id)
                await f.stop()

    def _apply_topic_config(self, name: str, config: dict[str, Any]) -> None:
        """Brings the local topic's config overrides to the cluster's (/config/topics/<name>)."""
        b = self.broker
        try:
            wanted = normalize_topic_config(config)
        except ValueError as e:
            logger.warning("topic %s: config %s from ZooKeeper refused: %s", name, config, e)
            return
        current = b.store.topic_config(name)
        changes: dict[str, Any] = {k: None for k in current if k not in wanted}
        changes.update({k: v for k, v in wanted.items() if current.get(k) != v})
        if changes:
            b.store.alter_topic_config(name, changes)
            logger.info("topic %s: config %s", name, ", ".join(f"{k}={v}" for k, v in sorted(changes.items())))

    async def _delete_local_topic(self, name: str) -> None:
        b = self.broker
        logger.info("topic %s was deleted from the cluster: deleting its local replicas", name)
        for key in [k for k in b.partitions if k[0] == name]:
            self._stop_replica(key, delete=False)
        await b.delete_local_topics([name])
        for key in [k for k in set(self._deleted) | set(self.epoch_caches) if k[0] == name]:
            self._deleted.discard(key)
            self.epoch_caches.pop(key, None)
        # The topic's committed offsets: each offsets partition's leader tombstones those of the
        # groups it holds (a follower never writes: it copies the leader's log).
        led = [p for (t, p), part in b.partitions.items() if t == OFFSETS_TOPIC and part.role == "leader"]
        groups = b.offsets.groups(led) if led else []
        if groups and (n := b.offsets.delete_topic(name, groups)):
            logger.info("deleted %d committed offsets of topic %s", n, name)
            for p in led:
                b.partitions[(OFFSETS_TOPIC, p)].notify_append()

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
            self.id, replicas, [r for r in state.isr if r in replicas], state.leader_epoch,
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
            self._spawn(fetcher.stop())
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
        logger.debug("fetching %s-%d: %s (%s); looking up the partition state again", key[0], key[1],
                     ErrorCode(code).name if code in ErrorCode._value2member_map_ else code, message)
        self.refresh_state(key)

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
            live = set(self.view.brokers)
            for key, part in list(self.broker.partitions.items()):
                ls = _leader_state(part)
                if ls is None or not self._session_ok:
                    continue
                sv = self.view.states.get(key)
                if sv is None:
                    continue
                state, version = sv
                if state.leader != self.id or state.leader_epoch != ls.leader_epoch:
                    continue
                # Only registered brokers join (a dead broker's last fetch proves nothing).
                new_isr = ls.isr_changes(leader_leo=part.log.end_offset, live=live)
                if new_isr is None:
                    if version != part.isr_version or set(state.isr) == ls.isr:
                        continue
                    new_isr = sorted(ls.isr)  # ahead of ZooKeeper: a removed replica left the ISR
                new_state = PartitionState(self.id, state.leader_epoch, sorted(new_isr), state.controller_epoch)
                try:
                    new_version = await self._zk(self.zk.update_partition_state, key[0], key[1], new_state, version)
                except Exception:
                    logger.exception("ISR update of %s-%d failed", *key)
                    continue
                if new_version is None:
                    self.refresh_state(key)  # someone else changed the state: re-read
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
        """Reassignment progress and preferred-leader elections, while this broker is controller.
        A reassignment moves on when an ISR grows, which the partition-state watches report:
        each re-read of the cluster wakes this loop (no polling; a slow tick as a safety net)."""
        cfg = self.broker.config
        loop = asyncio.get_running_loop()
        rebalance_every = max(1.0, cfg.get("leader.imbalance.check.interval.seconds"))
        next_rebalance = loop.time() + rebalance_every
        pending: Future[None] | None = None
        while True:
            try:
                await asyncio.wait_for(self._controller_kick.wait(), timeout=RESYNC_INTERVAL_S)
            except TimeoutError:
                pass
            self._controller_kick.clear()
            if not self.controller.active:
                continue
            # One tick at a time: ticks must not pile up on the ZooKeeper thread ahead of
            # the reads that reconcile this broker (nor be skipped: wait for the one running).
            if pending is not None and not pending.done():
                await asyncio.wrap_future(pending)
            pending = self.pool.submit(self._controller_step, self._reassignment_tick)
            if cfg.get("auto.leader.rebalance.enable") and loop.time() >= next_rebalance:
                next_rebalance = loop.time() + rebalance_every
                self.pool.submit(self._controller_step, self.controller.elect_preferred_leaders)

    # ----- high watermark checkpoint ----------------------------------------------------------

    def _save_hw_checkpoint(self) -> None:
        hws = dict(self._hw_checkpoint)
        for key, part in self.broker.partitions.items():
            if part.role is not None or part.hw_hint:
                hws[key] = part.high_watermark
        for key in [k for k in hws if k[0] not in self.view.topics and k[0] != OFFSETS_TOPIC]:
            del hws[key]  # deleted topics
        for key in self._deleted:
            hws.pop(key, None)
        if hws != self._hw_checkpoint:
            try:
                write_hw_checkpoint(self.broker.config.data_dir, hws)
                self._hw_checkpoint = hws
            except OSError as e:
                logger.warning("cannot write the high watermark checkpoint: %s", e)

    async def _hw_checkpoint_loop(self) -> None:
        """Kafka's replica.high.watermark.checkpoint.interval.ms."""
        every = self.broker.config.get("replica.high.watermark.checkpoint.interval.ms") / 1000
        while True:
            await asyncio.sleep(every)
            self._save_hw_checkpoint()

    def _reassignment_tick(self) -> None:
        """On the ZooKeeper thread: move pending reassignments on (phase 2 needs the new
        replicas in the ISR: run after every change the partition-state watches report)."""
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

    def txn_coordinator_for(self, transactional_id: str) -> BrokerEndpoint | None:
        n = len(self.view.topics[TXN_STATE_TOPIC].partitions) if TXN_STATE_TOPIC in self.view.topics else 0
        if n == 0:
            return None
        leader = self.view.brokers.get(self.leader_of(TXN_STATE_TOPIC, partition_for_txn(transactional_id, n)))
        return None if leader is None else _endpoint(leader)

    async def ensure_txn_state_topic(self) -> None:
        if TXN_STATE_TOPIC in self.view.topics:
            return
        cfg = self.broker.config
        rf = min(cfg.get("transaction.state.log.replication.factor"), max(1, len(await self.live_brokers())))
        config = txn_state_topic_config(cfg.get("transaction.state.log.segment.bytes"))
        try:
            await self.create_topic(TXN_STATE_TOPIC, self.broker.txns.num_partitions, rf, config, wait=False)
        except TopicExistsError:
            pass

    async def write_txn_markers(self, broker_id: int, producer_id: int, epoch: int, commit: bool, coordinator_epoch: int,
                                partitions: list[tuple[str, int]]) -> dict[tuple[str, int], ErrorCode]:
        """Sends WriteTxnMarkers to the leader `broker_id` of `partitions`; an error per partition
        (NOT_LEADER_OR_FOLLOWER, retried by the coordinator, when the broker cannot be reached)."""
        topics: dict[str, list[int]] = {}
        for t, p in partitions:
            topics.setdefault(t, []).append(p)
        body = {"markers": [{"producer_id": producer_id, "producer_epoch": epoch, "transaction_result": commit,
                             "coordinator_epoch": coordinator_epoch,
                             "topics": [{"name": t, "partition_indexes": ps} for t, ps in topics.items()]}]}
        try:
            resp = await self._txn_request(broker_id, ApiKey.WRITE_TXN_MARKERS, None, body)
        except (KeyError, OSError, KafkaConnectionError, KafkaError) as e:
            logger.info("WriteTxnMarkers to broker %d failed (%s); will retry", broker_id, e)
            return {tp: ErrorCode.NOT_LEADER_OR_FOLLOWER for tp in partitions}
        out = {tp: ErrorCode.NOT_LEADER_OR_FOLLOWER for tp in partitions}
        for m in resp.get("markers", []):
            for t in m["topics"]:
                for pr in t["partitions"]:
                    code = pr["error_code"]
                    out[(t["name"], pr["partition_index"])] = ErrorCode(code) if code in ErrorCode._value2member_map_ \
                        else ErrorCode.UNKNOWN_SERVER_ERROR
        return out

    async def verify_txn_partition(self, transactional_id: str, producer_id: int, epoch: int,
                                   partition: tuple[str, int]) -> ErrorCode:
        """KIP-890 part 1: asks the transactional id's coordinator (AddPartitionsToTxn v4,
        verify-only) whether `partition` is in the producer's open transaction."""
        c = self.txn_coordinator_for(transactional_id)
        if c is None:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        body = {"transactions": [{"transactional_id": transactional_id, "producer_id": producer_id, "producer_epoch": epoch,
                                  "verify_only": True, "topics": [{"name": partition[0], "partitions": [partition[1]]}]}]}
        try:
            resp = await self._txn_request(c.node_id, ApiKey.ADD_PARTITIONS_TO_TXN, 4, body)
            code = resp["results_by_transaction"][0]["topic_results"][0]["results_by_partition"][0]["partition_error_code"]
        except (KeyError, IndexError, OSError, KafkaConnectionError, KafkaError) as e:
            logger.info("verifying a transaction with broker %d failed (%s)", c.node_id, e)
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        return ErrorCode(code) if code in ErrorCode._value2member_map_ else ErrorCode.UNKNOWN_SERVER_ERROR

    async def _txn_request(self, broker_id: int, api_key: int, version: int | None, body: dict[str, Any]) -> dict[str, Any]:
        """One request to another broker over this node's connection to it (opened on demand)."""
        conn = self._txn_conns.get(broker_id)
        if conn is None or conn.closed:
            b = self.view.brokers[broker_id]
            conn = self._txn_conns[broker_id] = await BrokerConnection.connect(b.host, b.port, f"pystream-txn-{self.id}", timeout=10.0)
        return await conn.request(api_key, version, body)

    async def ensure_offsets_topic(self) -> None:
        if OFFSETS_TOPIC in self.view.topics:
            return
        rf = min(self.broker.config.get("offsets.topic.replication.factor"), max(1, len(await self.live_brokers())))
        n = self.broker.config.get("offsets.topic.num.partitions")
        try:
            await self.create_topic(OFFSETS_TOPIC, n, rf, dict(OFFSETS_TOPIC_CONFIG), wait=False)
        except TopicExistsError:
            pass  # another broker created it; this broker's view has not caught up yet

    async def create_topic(self, name: str, partitions: int, replication_factor: int, config: dict[str, Any],
                           wait: bool = True, timeout: float = 10.0) -> None:
        """Writes the topic's assignment to ZooKeeper; the controller then elects its leaders.
        Raises ValueError for a replication factor above the live brokers, TopicExists from the store."""
        live = sorted(await self.live_brokers())
        assignment = assign_replicas(live, partitions, replication_factor)
        await self._zk(lambda: self.zk.create_topic(name, assignment, config))
        self.refresh()
        if wait:
            await self._wait_for_leaders(name, partitions, timeout)

    async def _wait_for_leaders(self, name: str, partitions: int, timeout: float) -> None:
        """Until every partition of the topic has a state with a leader (or `timeout`)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            states = await self._zk(self.zk.partition_states, name)
            if len(states) >= partitions and all(s.leader != NO_LEADER for s, _v in states.values()):
                self.refresh()
                return
            await asyncio.sleep(0.05)

    async def create_partitions(self, name: str, total: int, assignments: list[list[int]] | None = None,
                                timeout: float = 10.0) -> None:
        """CreatePartitions: the new partitions' replicas go into the topic's assignment (a
        conditional write); the controller, watching the topic, elects their leaders; every
        replica's broker creates their logs. Existing partitions are untouched. ValueError for
        a bad count or assignment, UnknownTopicError for no topic."""
        for _ in range(20):
            info = await self._zk(self.zk.topic, name)
            if info is None:
                raise UnknownTopicError(f"unknown topic {name!r}")
            current = len(info.partitions)
            if total <= current:
                raise ValueError(f"topic {name!r} has {current} partitions; {total} is not more")
            rf = len(info.partitions[0])
            live = sorted(await self.live_brokers())
            if assignments is not None:
                if len(assignments) != total - current:
                    raise ValueError(f"{len(assignments)} assignments for {total - current} new partitions")
                for replicas in assignments:
                    if len(replicas) != rf or len(set(replicas)) != rf or not set(replicas) <= set(live):
                        raise ValueError(f"replicas {replicas} must be {rf} distinct live brokers")
                new = {current + i: list(r) for i, r in enumerate(assignments)}
            else:
                # Kafka continues the topic's round robin: the next preferred leader after the last one's.
                last_leader = info.partitions[current - 1][0]
                start = (live.index(last_leader) + 1) if last_leader in live else current
                placed = assign_replicas(live, total, rf, start_index=start - current)
                new = {p: placed[p] for p in range(current, total)}
            if await self._zk(self.zk.set_assignment, name, {**info.partitions, **new}, info.version) is not None:
                break
        else:
            raise RuntimeError(f"could not add partitions to {name!r}: the topic keeps changing")
        logger.info("topic %s: partitions %d..%d added: %s", name, current, total - 1, new)
        self.refresh()
        await self._wait_for_leaders(name, total, timeout)

    async def alter_topic_config(self, name: str, changes: dict[str, Any]) -> None:
        """Writes the changes to /config/topics/<name>; every broker (this one at once) applies
        the new overrides to its logs through the watch."""
        config = await self._zk(self.zk.alter_topic_config, name, changes)
        self.view.configs[name] = config
        if name in self.broker.store.list_topics(include_internal=True):
            self._apply_topic_config(name, _local_config(config))

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
        self.refresh()

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
