"""The broker: partitions, topics and the Kafka APIs over them.

One asyncio event loop runs everything. Produce hands the record bytes to the
Rust log unparsed (`append_raw` validates and assigns offsets); Fetch answers
with memoryviews over the segment mappings, which the connection writes to
the socket without a Python copy.

Storage is the `LogManager` of the data directory; groups are the
`GroupCoordinator`. In a cluster, a `ClusterLink` is attached (see
server/cluster_link.py): this module never imports the cluster layer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import struct
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pystream._core import decode_records, peek_batches, stamp_log_append_time
from pystream.coordinator.assignors import assignor_names
from pystream.coordinator.group import GroupCoordinator
from pystream.coordinator.offsets import OFFSETS_TOPIC, open_offset_store
from pystream.coordinator.transactions import TransactionCoordinator, TxnConfig
from pystream.coordinator.txn_log import TXN_STATE_TOPIC, txn_state_topic_config
from pystream.errors import CorruptRecordError, LogDirectoryError, OffsetOutOfRangeError, TopicExistsError
from pystream.protocol.error_codes import ErrorCode
from pystream.security.manager import SecurityManager
from pystream.server.broker_files import ProducerIdAllocator, load_or_create_meta
from pystream.server.cluster_link import ClusterLink
from pystream.server.config import BROKER_CONFIGS, BrokerConfig
from pystream.server.dynamic_config import DEFAULT_ENTITY, DynamicConfigStore, FileDynamicConfigStore
from pystream.server.fetch_session import FetchSessionCache
from pystream.server.gc_policy import GcPolicy
from pystream.server.metrics import BrokerMetrics
from pystream.server.partition import LeaderReplicas, Partition
from pystream.storage.config_def import LONG_MAX
from pystream.storage.log import Log
from pystream.storage.manager import LogManager
from pystream.storage.producer_state import ProducerState, SequenceCheck
from pystream.storage.records import ATTR_CONTROL, ATTR_TRANSACTIONAL
from pystream.storage.topic_config import is_compacted, normalize_topic_config, validate_topic_name
from pystream.storage.txn_index import encode_marker_batch

logger = logging.getLogger("pystream.server")

EARLIEST, LATEST, MAX_TIMESTAMP = -2, -1, -3
READ_COMMITTED = 1  # Fetch / ListOffsets isolation_level
_SEQUENCE_ERRORS = {
    SequenceCheck.OUT_OF_ORDER: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
    SequenceCheck.INVALID_EPOCH: ErrorCode.INVALID_PRODUCER_EPOCH,
    SequenceCheck.UNKNOWN_PRODUCER: ErrorCode.UNKNOWN_PRODUCER_ID,
}
_BATCH_PREFIX = struct.Struct(">qi")  # base offset, batch length
_LAST_OFFSET_DELTA = struct.Struct(">i")  # at byte 23 of a batch


class _SecuritySettings(Mapping[str, Any]):
    """The broker config as `pystream.security` reads it: every key's effective value, and the
    ``listener.name.<listener>.<key>`` overrides (kept with the keys Kafka passes through)."""

    def __init__(self, config: BrokerConfig, security: SecurityManager | None = None) -> None:
        self.config = config

    def __getitem__(self, key: str) -> Any:
        if key in BROKER_CONFIGS:
            return self.config.get(key)
        return self.config.unknown[key]

    def __iter__(self) -> Iterator[str]:
        return iter([*BROKER_CONFIGS, *self.config.unknown])

    def __len__(self) -> int:
        return len(BROKER_CONFIGS) + len(self.config.unknown)


def security_settings(config: BrokerConfig) -> Mapping[str, Any]:
    return _SecuritySettings(config)


class Broker:
    """A single Kafka-compatible broker over one data directory."""

    def __init__(self, config: BrokerConfig, security: SecurityManager | None = None) -> None:
        self.config = config
        self.node_id: int = config.get("broker.id")
        self.gc_policy: GcPolicy | None = None  # set by `pystream serve` (a process of its own)
        # Listeners, TLS, SASL, ACLs, quotas: checked before anything is written (SecurityConfigError).
        self.security = security or SecurityManager(security_settings(config), config.data_dir, config.host, config.port)
        # The broker decides on auto-creation itself (it knows the request's wishes).
        self.store = LogManager(config.log_dirs, auto_create_topics=False, num_partitions=config.get("num.partitions"),
                                topic_defaults=config.topic_defaults(),
                                remote_storage_system=config.get("remote.log.storage.system.enable"))
        # Dynamic broker configs: a file in the metadata log dir (a cluster node is given a ZooKeeper store).
        self.dynamic_store: DynamicConfigStore = FileDynamicConfigStore(self.store.data_dir)
        self.apply_dynamic_configs(self.dynamic_store.load())  # before any partition opens
        self.cluster_id = load_or_create_meta(self.store.data_dir, self.node_id)
        self.partitions: dict[tuple[str, int], Partition] = {}
        self.producer_ids = ProducerIdAllocator(self.store.data_dir)
        self.offsets = open_offset_store(self.store, config.get("offsets.topic.num.partitions"))
        self.groups = GroupCoordinator(
            self.offsets,
            initial_rebalance_delay_ms=config.get("group.initial.rebalance.delay.ms"),
            min_session_timeout_ms=config.get("group.min.session.timeout.ms"),
            max_session_timeout_ms=config.get("group.max.session.timeout.ms"),
            partition_exists=self.partition_exists,
            topic_partitions=self.topic_partitions,
            topic_id=self.topic_id,
            consumer_heartbeat_interval_ms=config.get("group.consumer.heartbeat.interval.ms"),
            consumer_session_timeout_ms=config.get("group.consumer.session.timeout.ms"),
            consumer_assignors=assignor_names(config.get("group.consumer.assignors")),
            is_coordinator=self.coordinates_group,
        )
        # Listener name -> the (host, port) clients are told to use (a port 0 listener: set once bound).
        self.endpoints: dict[str, tuple[str, int]] = {
            e.name: (e.host or socket.getfqdn(), e.port) for e in self.security.listeners.advertised}
        # KIP-227 incremental fetch sessions (the Fetch handler's cache)
        self.fetch_sessions = FetchSessionCache(config.get("max.incremental.fetch.session.cache.slots"))
        self._tasks: list[asyncio.Task[None]] = []
        # Blocking storage work that grows with the number of partitions runs here, off the loop.
        self._io_pool = ThreadPoolExecutor(8, thread_name_prefix="storage")
        self.metrics = BrokerMetrics()
        self._open_failures: dict[tuple[str, int], float] = {}  # when a partition last failed to open (logged)
        # Set by attach_cluster when zookeeper.connect is set; None: a single broker.
        self.cluster: ClusterLink | None = None
        # The transaction coordinator of the __transaction_state partitions this broker leads.
        txn_partitions = self.store.list_topics(include_internal=True).get(
            TXN_STATE_TOPIC, config.get("transaction.state.log.num.partitions"))
        self.txns = TransactionCoordinator(
            lambda p: self.store.partition_log(TXN_STATE_TOPIC, p), txn_partitions,
            allocate_producer_id=self.allocate_producer_id, write_markers=self.write_txn_markers,
            owns=self._owns_txn_partition, replicated=self._txn_state_replicated,
            partition_exists=lambda t, i: 0 <= i < self.topic_partitions().get(t, 0),
            offsets_partition=lambda g: (OFFSETS_TOPIC, self.offsets.partition_for(g)),
            config=TxnConfig(max_timeout_ms=config.get("transaction.max.timeout.ms"),
                             id_expiration_ms=config.get("transactional.id.expiration.ms"),
                             abort_interval_ms=config.get("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
                             expiration_interval_ms=config.get("transaction.remove.expired.transaction.cleanup.interval.ms")))

    @property
    def advertised_host(self) -> str:
        """The inter-broker listener's advertised host (what a single-listener broker advertises)."""
        return self.endpoints[self.security.listeners.inter_broker][0]

    @property
    def advertised_port(self) -> int:
        return self.endpoints[self.security.listeners.inter_broker][1]

    def listener_bound(self, name: str, port: int) -> None:
        """A listener configured with port 0 got `port`: advertise that (unless advertised.listeners said otherwise)."""
        host, advertised = self.endpoints[name]
        if advertised == 0:
            self.endpoints[name] = (host, port)

    def attach_cluster(self, link: ClusterLink) -> None:
        """Makes this broker a member of a cluster (before `start`)."""
        self.cluster = link

    # ----- configuration -------------------------------------------------------------

    def apply_dynamic_configs(self, entities: dict[str, dict[str, str]]) -> None:
        """Takes the stored dynamic broker configs (the cluster default and this broker's) and applies
        them at once: topics inherit the new log.* defaults, open logs are reconfigured."""
        problems = self.config.set_dynamic(entities.get(DEFAULT_ENTITY, {}), entities.get(str(self.node_id), {}))
        for why in problems:
            logger.warning("stored dynamic broker config skipped: %s", why)
        self.store.set_topic_defaults(self.config.topic_defaults())
        # log.cleaner.* take effect at once, but for the number of threads (at the next start).
        self.store.cleaner.config = dataclasses.replace(self.config.cleaner_config(), threads=self.store.cleaner.config.threads)

    async def reload_dynamic_configs(self) -> None:
        """Re-reads the dynamic configs from their store (off the event loop) and applies them."""
        self.apply_dynamic_configs(await asyncio.to_thread(self.dynamic_store.load))

    async def save_dynamic_configs(self, entity: str, configs: dict[str, str]) -> None:
        """Replaces one entity's dynamic configs durably, then applies them."""
        await asyncio.to_thread(self.dynamic_store.save, entity, configs)
        await self.reload_dynamic_configs()

    def use_dynamic_store(self, store: DynamicConfigStore) -> None:
        """Keeps dynamic configs in `store` (the cluster's) from `start` on, instead of the local file."""
        self.dynamic_store = store

    def topic_config(self, topic: str) -> dict[str, Any]:
        """Every config of `topic`, typed: its override, else the broker's (dynamic, static), else Kafka's
        default (unclean.leader.election.enable, min.insync.replicas, ...). Shared: do not modify."""
        return self.store.effective_topic_config(topic)

    # ----- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Periodic work (retention, the flush policy, group expirations) and, in a
        cluster, registration with ZooKeeper."""
        if self.cluster is not None:
            await self.cluster.start()
        if not isinstance(self.dynamic_store, FileDynamicConfigStore):  # a cluster's store, attached after __init__
            loop_ = asyncio.get_running_loop()
            self.dynamic_store.watch(lambda: loop_.call_soon_threadsafe(lambda: loop_.create_task(self.reload_dynamic_configs())))
            await self.reload_dynamic_configs()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._every(self.config.get("log.retention.check.interval.ms") / 1000, self._retention)))
        # Kafka's default interval (Long.MAX) never checks: pystream checks at least every second.
        flush_check_s = min(self.config.get("log.flush.scheduler.interval.ms"), 1000) / 1000
        self._tasks.append(loop.create_task(self._every(flush_check_s, self._flush_policy)))
        self._tasks.append(loop.create_task(self._every(0.1, self.groups.tick)))
        self._tasks.append(loop.create_task(self._every(0.5, self.txns.tick)))
        self._tasks.append(loop.create_task(self._every(self.config.get("offsets.retention.check.interval.ms") / 1000,
                                                        self._expire_offsets)))
        cleaner = self.config.cleaner_config()
        if cleaner.enable:
            self.store.start_cleaner(cleaner, upper_bound=self._cleanable_upper_bound)

    def _expire_offsets(self) -> None:
        """Committed offsets of groups with no member expire after offsets.retention.minutes
        (tombstones in the compacted __consumer_offsets). A single broker owns every offsets
        partition; in a cluster, those whose coordinator it is (the loaded ones)."""
        def active(group_id: str) -> bool:
            g = self.groups.group(group_id)
            return g is not None and bool(g.members)

        every = None if self.cluster is not None else range(self.offsets.num_partitions)
        n = self.offsets.expire_offsets(self.config.get("offsets.retention.minutes") * 60_000, active, partitions=every)
        if n:
            logger.info("expired %d committed offset(s) of groups with no member (offsets.retention.minutes)", n)

    def _cleanable_upper_bound(self, topic: str, index: int) -> int | None:
        """How far the log cleaner (in its own thread) may clean a partition: its last stable
        offset (the high watermark, or the first offset of a transaction still open: its
        records and markers stay as they are until it ends); None when this broker does not
        know it (a replica it does not lead or follow yet)."""
        p = self.partitions.get((topic, index))  # dict reads are atomic
        if p is not None:
            return p.last_stable_offset
        return None if self.cluster is not None else self.store.partition_log(topic, index).end_offset

    async def _every(self, seconds: float, work: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                result = work()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                logger.exception("periodic task %s failed", getattr(work, "__name__", work))

    # Retention and the flush policy visit every open log and may delete files or fsync: with
    # thousands of partitions that is seconds of blocking work, done in the storage threads.
    async def _retention(self) -> None:
        deleted = await asyncio.get_running_loop().run_in_executor(self._io_pool, self.store.enforce_retention)
        if deleted:  # the aborted-transaction indexes follow the segments that are left
            for i, p in enumerate(list(self.partitions.values()), 1):
                p.producer_state.txn_index.retain([base for base, _size in p.log.segments()])
                if i % PARTITIONS_PER_SLICE == 0:
                    await asyncio.sleep(0)

    async def _flush_policy(self) -> None:
        flushed = await asyncio.get_running_loop().run_in_executor(self._io_pool, self.store.flush_due)
        # Snapshots taken here, on the loop (the state changes with every append), a slice at a
        # time (thousands of partitions flushed at once); written in threads.
        snaps = []
        for i, (topic, index, log) in enumerate(flushed, 1):
            if (p := self.partitions.get((topic, index))) is not None:
                snaps.append((p.producer_state, p.producer_state.snapshot(log.end_offset)))
            if i % PARTITIONS_PER_SLICE == 0:
                await asyncio.sleep(0)
        if snaps:
            await asyncio.get_running_loop().run_in_executor(self._io_pool, lambda: [s.write_snapshot(d) for s, d in snaps])

    async def prepare_shutdown(self) -> None:
        """Before closing, while still serving: in a cluster, the controlled shutdown (leadership
        moves to other replicas, so clients switch with at most a retriable error)."""
        if self.cluster is not None:
            await self.cluster.controlled_shutdown()

    async def close(self) -> None:
        if self.cluster is not None:
            await self.cluster.close()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        await self.groups.close()
        await self.txns.close()
        parts = list(self.partitions.values())
        for p in parts:
            p.notify_append()
        self.partitions.clear()
        # Thousands of partitions: their snapshots and closes (each a few fsyncs) overlap in threads.
        # What cannot be written (a full disk) is only logged: the logs hold every acknowledged
        # record already, and the next start recovers them as after a crash.
        def save_state(p: Partition) -> None:
            try:
                p.producer_state.save(p.log.end_offset)
            except OSError as e:
                logger.warning("%s-%d: producer state not saved (%s): it is rebuilt from the log at the next start",
                               p.topic, p.index, e)

        with ThreadPoolExecutor(min(32, len(parts) or 1), thread_name_prefix="close") as pool:
            list(pool.map(save_state, parts))
        try:
            self.store.close()  # flushes and closes every log, writing clean-shutdown markers
        except OSError as e:
            logger.warning("not every log could be closed cleanly (%s): the next start recovers them", e)
        self._io_pool.shutdown(wait=True)

    # ----- partitions ----------------------------------------------------------------

    def partition(self, topic: str, index: int) -> Partition | None:
        """The partition, opened on first use; None when the topic or partition does not exist.
        Raises LogDirectoryError (an OSError) when its files cannot be opened (e.g. no file
        descriptors left): the request answers KAFKA_STORAGE_ERROR for it."""
        p = self.partitions.get((topic, index))
        if p is not None:
            return p
        if not self._local_partition_exists(topic, index):
            return None
        return self._register(topic, index, *self._open_partition(topic, index))

    def leader_partition(self, topic: str, index: int) -> tuple[Partition | None, ErrorCode]:
        """The partition when this broker may serve produce and consumer fetches of it; else
        None and why: UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER or KAFKA_STORAGE_ERROR."""
        try:
            p = self.partition(topic, index)
        except LogDirectoryError as e:
            now = time.monotonic()
            if now - self._open_failures.get((topic, index), -_OPEN_FAILURE_LOG_INTERVAL) >= _OPEN_FAILURE_LOG_INTERVAL:
                self._open_failures[(topic, index)] = now  # logged once a minute per partition, not per request
                logger.error("%s", e)
            return None, ErrorCode.KAFKA_STORAGE_ERROR
        if p is None:
            return None, self.missing_partition_error(topic, index)
        if not p.is_leader:
            return None, ErrorCode.NOT_LEADER_OR_FOLLOWER
        return p, ErrorCode.NONE

    async def open_partitions(self, keys: Iterable[tuple[str, int]]) -> None:
        """Opens, in threads and off the event loop, the partitions of `keys` that are not open
        yet (a log open reads several files: up to milliseconds on a busy disk, and a first
        produce or fetch may name thousands). Partitions that fail to open are left for
        `partition` to report."""
        todo = list(dict.fromkeys(k for k in keys if k not in self.partitions and self._local_partition_exists(*k)))
        if not todo:
            return
        loop = asyncio.get_running_loop()

        def open_chunk(keys: list[tuple[str, int]]) -> list[tuple[Log, ProducerState] | None]:
            opened: list[tuple[Log, ProducerState] | None] = []
            for key in keys:
                try:
                    opened.append(self._open_partition(*key))
                except OSError:
                    opened.append(None)
            return opened

        # One work item per chunk, not per partition: thousands of pending futures would be
        # thousands of objects for the garbage collector to visit, and loop callbacks. At most
        # _OPEN_THREADS chunks at once: an open is partly Python (producer state), and more
        # threads wanting the GIL make the event loop wait longer for its turn.
        chunks = [todo[i:i + _OPENS_PER_THREAD_TASK] for i in range(0, len(todo), _OPENS_PER_THREAD_TASK)]
        turns = asyncio.Semaphore(_OPEN_THREADS)

        async def open_in_thread(keys: list[tuple[str, int]]) -> list[tuple[Log, ProducerState] | None]:
            async with turns:
                return await loop.run_in_executor(self._io_pool, open_chunk, keys)

        for keys, opened in zip(chunks, await asyncio.gather(*(open_in_thread(c) for c in chunks))):
            for key, files in zip(keys, opened):
                if files is not None and key not in self.partitions and self._local_partition_exists(*key):
                    self._register(key[0], key[1], *files)
            await asyncio.sleep(0)  # registering thousands: others' requests in between

    def _local_partition_exists(self, topic: str, index: int) -> bool:
        count = self.store.topic_partition_count(topic)
        if self.cluster is not None and not self.cluster.hosts_replica(topic, index):
            return False  # not a replica here: no log (a removed replica's was deleted)
        return count is not None and 0 <= index < count

    def _open_partition(self, topic: str, index: int) -> tuple[Log, ProducerState]:
        """Opens a partition's log and loads its producer state (thread-safe)."""
        try:
            log = self.store.partition_log(topic, index)
            state = ProducerState(log.path)
            state.load(log)
        except OSError as e:
            raise LogDirectoryError(f"cannot open partition {topic}-{index}: {e}") from e
        return log, state

    def _register(self, topic: str, index: int, log: Log, state: ProducerState) -> Partition:
        p = self.partitions.get((topic, index))
        if p is not None:  # opened meanwhile
            return p
        p = self.partitions[(topic, index)] = Partition(topic, index, log, state, replicated=self.cluster is not None)
        if self.cluster is not None:
            self.cluster.partition_opened(p)  # it takes up its role
        if self.gc_policy is not None:
            self.gc_policy.partitions_opened()
        return p

    def topic_id(self, topic: str) -> uuid.UUID:
        """The topic's id (Metadata v10+, CreateTopics v7+): stable for the life of the topic."""
        if self.cluster is not None:
            return self.cluster.topic_id(topic) or uuid.UUID(int=0)
        return self.store.topic_id(topic)

    def topic_name(self, topic_id: uuid.UUID | None) -> str | None:
        if topic_id is None or topic_id.int == 0:
            return None
        for name in self.topic_partitions():
            if self.topic_id(name) == topic_id:
                return name
        return None

    def is_controller(self) -> bool:
        """This broker is the controller (a single broker always is)."""
        return self.cluster is None or self.cluster.is_controller

    def topic_exists(self, topic: str) -> bool:
        return self.topic_partition_count(topic) is not None

    def coordinates_group(self, group_id: str) -> bool:
        """This broker coordinates the group: always on a single broker; in a cluster when it
        leads the group's __consumer_offsets partition."""
        return self.cluster is None or self.cluster.is_coordinator(group_id)

    def partition_exists(self, topic: str, index: int) -> bool:
        """Whether the cluster (or the local store) has this partition."""
        return 0 <= index < (self.topic_partition_count(topic) or 0)

    def topic_partition_count(self, topic: str) -> int | None:
        """Partitions of `topic` as the cluster (or the local store) knows it; None: no such topic."""
        if self.cluster is not None:
            return self.cluster.topic_partition_count(topic)
        return self.store.topic_partition_count(topic)

    def missing_partition_error(self, topic: str, index: int) -> ErrorCode:
        """The error for a partition this broker has no replica of: a partition the cluster has
        elsewhere is NOT_LEADER_OR_FOLLOWER (clients look up its leader), else unknown."""
        if 0 <= index < (self.topic_partition_count(topic) or 0):
            return ErrorCode.NOT_LEADER_OR_FOLLOWER
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION

    def topic_partitions(self) -> dict[str, int]:
        """Topic name -> partition count, as the cluster (or the local store) knows them."""
        if self.cluster is not None:
            return self.cluster.topic_partitions()
        return self.store.list_topics(include_internal=True)

    async def create_topic(self, name: str, partitions: int, replication_factor: int, config: dict[str, Any]) -> None:
        """Creates a topic (ValueError: bad name, config or replication factor)."""
        if self.cluster is not None:
            validate_topic_name(name)
            normalize_topic_config(config, remote_storage_system=self.store.remote_storage_system)
            await self.cluster.create_topic(name, partitions, replication_factor, config)
            return
        if replication_factor != 1:
            raise ValueError(f"replication factor {replication_factor} is larger than the 1 available broker")
        self.store.create_topic(name, partitions=partitions, config=config)

    async def create_partitions(self, name: str, total: int, assignments: list[list[int]] | None = None) -> None:
        """Grows a topic to `total` partitions (ValueError: not more, or a bad assignment); a
        single broker's assignments can only name itself (checked by the API)."""
        if self.cluster is not None:
            await self.cluster.create_partitions(name, total, assignments)
            return
        self.store.create_partitions(name, total)

    async def alter_topic_config(self, name: str, changes: dict[str, Any]) -> None:
        """Sets (None: removes) validated topic config overrides: in a cluster in ZooKeeper, from
        where every broker applies them; else in the local store."""
        if self.cluster is not None:
            await self.cluster.alter_topic_config(name, changes)
        else:
            self.store.alter_topic_config(name, changes)

    async def create_topics(self, specs: list[tuple[str, int, int, dict[str, Any]]]) -> list[Exception | None]:
        """Creates several topics ``(name, partitions, replication_factor, config)``; per topic
        None or the exception that refused it (ValueError, TopicExistsError). On one broker
        they are created with one metadata write, in a thread (10,000 topics take a while)."""
        if self.cluster is not None:
            out: list[Exception | None] = []
            for name, n, rf, config in specs:
                try:
                    await self.create_topic(name, n, rf, config)
                    out.append(None)
                except (ValueError, TopicExistsError) as e:
                    out.append(e)
            return out
        bad = {i: ValueError(f"replication factor {rf} is larger than the 1 available broker")
               for i, (_n, _p, rf, _c) in enumerate(specs) if rf != 1}
        todo = [(name, n, config) for i, (name, n, _rf, config) in enumerate(specs) if i not in bad]
        created = await asyncio.get_running_loop().run_in_executor(self._io_pool, self.store.create_topics, todo)
        results = iter(created)
        return [bad[i] if i in bad else (r if isinstance(r := next(results), Exception) else None) for i in range(len(specs))]

    async def auto_create(self, topic: str, allowed: bool = True) -> ErrorCode:
        """Creates a topic on first use when the request `allowed` it and auto.create.topics.enable
        is set. An illegal name is INVALID_TOPIC_EXCEPTION either way (as Kafka's Metadata answers)."""
        try:
            validate_topic_name(topic)
        except ValueError:
            return ErrorCode.INVALID_TOPIC_EXCEPTION
        if not (allowed and self.config.get("auto.create.topics.enable")):
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        rf = 1
        if self.cluster is not None:
            rf = min(self.config.get("default.replication.factor"), max(1, await self.cluster.live_broker_count()))
        try:
            await self.create_topic(topic, self.config.get("num.partitions"), rf, {})
        except TopicExistsError:
            return ErrorCode.NONE  # created meanwhile
        except ValueError as e:
            logger.info("cannot auto-create topic %r: %s", topic, e)
            return ErrorCode.INVALID_TOPIC_EXCEPTION
        logger.info("auto-created topic %r", topic)
        return ErrorCode.NONE

    async def allocate_producer_id(self) -> int:
        if self.cluster is not None:
            return await self.cluster.allocate_producer_id()
        return self.producer_ids.allocate()

    def forget_topic(self, topic: str) -> None:
        """Drops the broker's partitions of `topic` (parked fetches wake and see it gone)."""
        for key in [k for k in self.partitions if k[0] == topic]:
            self.forget_partition(key)
        self.metrics.forget_topic(topic)

    def forget_partition(self, key: tuple[str, int]) -> None:
        p = self.partitions.pop(key, None)
        if p is not None:
            p.notify_append()

    async def delete_local_topics(self, topics: list[str]) -> None:
        """Deletes this broker's replicas of `topics` (in a thread: thousands of directories).
        A single broker also deletes the offsets groups committed for them; in a cluster only
        the leader of an offsets partition may write to it, so the cluster layer does that."""
        for topic in topics:
            self.forget_topic(topic)
        await asyncio.get_running_loop().run_in_executor(self._io_pool, self.store.delete_topics, topics)
        for topic in topics:
            if topic != OFFSETS_TOPIC and self.cluster is None:
                self.offsets.delete_topic(topic)

    # ----- produce -------------------------------------------------------------------

    async def append_records(self, topic: str, index: int, records: Any, acks: int = 1,
                             transactional_id: str | None = None) -> dict[str, Any]:
        """Appends a Produce request's records to one partition; the partition's response.
        In a cluster with acks=all it waits until the in-sync replicas have them.
        Transactional batches must come from a producer whose open transaction holds the
        partition (KIP-890 part 1, checked when the transaction coordinator is this broker)."""
        result: dict[str, Any] = {"index": index, "error_code": 0, "base_offset": -1, "log_append_time_ms": -1, "log_start_offset": -1}
        p, err = self.leader_partition(topic, index)
        if err == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION and not self.topic_exists(topic) and await self.auto_create(topic) == ErrorCode.NONE:
            p, err = self.leader_partition(topic, index)
        if p is None:
            result["error_code"] = err
            return result
        ls = p.leader_state
        topic_config = self.topic_config(topic)  # shared and cached: read once per partition request
        min_isr = topic_config["min.insync.replicas"]
        if acks == -1 and ls is not None and not ls.min_isr_ok(min_isr):
            result["error_code"] = ErrorCode.NOT_ENOUGH_REPLICAS
            result["error_message"] = f"the ISR {sorted(ls.isr)} is smaller than min.insync.replicas={min_isr}"
            return result
        if records is None or len(records) == 0:
            result["error_code"] = ErrorCode.CORRUPT_MESSAGE
            return result
        try:
            batches = peek_batches(records)
        except CorruptRecordError as e:
            logger.warning("produce to %s-%d: %s", topic, index, e)
            result["error_code"] = ErrorCode.CORRUPT_MESSAGE
            result["error_message"] = str(e)
            return result
        max_bytes = topic_config["max.message.bytes"]
        for _summary, size in batches:
            if size > max_bytes:
                result["error_code"] = ErrorCode.MESSAGE_TOO_LARGE
                result["error_message"] = f"batch of {size} bytes exceeds max.message.bytes={max_bytes}"
                return result
        if is_compacted(topic_config) and _has_keyless_record(records):
            result["error_code"] = ErrorCode.INVALID_RECORD
            result["error_message"] = f"Compacted topic cannot accept message without key in topic partition {topic}-{index}."
            return result
        now_ms = int(time.time() * 1000)
        log_append_time = topic_config["message.timestamp.type"] == "LogAppendTime"
        if not log_append_time:
            bad = _timestamp_error(topic_config, records, batches, now_ms)
            if bad is not None:
                index, message = bad
                result["error_code"] = ErrorCode.INVALID_TIMESTAMP
                result["error_message"] = message
                result["record_errors"] = [{"batch_index": index, "batch_index_error_message": message}]
                return result
        if (err := await self._check_transactional(p, batches, transactional_id)) is not None:
            result["error_code"], result["error_message"] = err
            return result
        # Idempotence: judge every batch before anything is appended.
        for (base, last, pid, epoch, seq, count, _ts, _attrs), _size in batches:
            if pid < 0:
                continue
            verdict, first_offset = p.producer_state.check(pid, epoch, seq, last - base + 1)
            if verdict is SequenceCheck.DUPLICATE:
                # A retry of a batch we already have: acknowledged with its original offset, and
                # with acks=all only once replicated, like the original (Kafka: the delayed
                # produce waits for the high watermark to pass the batch's last offset).
                result["base_offset"] = first_offset
                result["log_start_offset"] = p.log.start_offset
                if ls is not None and acks == -1:
                    await self._await_replication(ls, first_offset + (last - base) + 1, min_isr, result)
                return result
            if verdict is not SequenceCheck.OK:
                result["error_code"] = _SEQUENCE_ERRORS[verdict]
                return result
        try:
            if log_append_time:  # Kafka stamps maxTimestamp and the timestamp-type bit (CRC recomputed)
                records = stamp_log_append_time(records, now_ms)
                result["log_append_time_ms"] = now_ms
            base_offset = p.log.append_raw(records)
        except CorruptRecordError as e:
            logger.warning("produce to %s-%d: %s", topic, index, e)
            result["error_code"] = ErrorCode.CORRUPT_MESSAGE
            result["error_message"] = str(e)
            return result
        except OSError as e:
            logger.error("produce to %s-%d failed: %s", topic, index, e)
            result["error_code"] = ErrorCode.KAFKA_STORAGE_ERROR
            return result
        next_offset = base_offset
        for (base, last, pid, epoch, seq, count, _ts, attrs), _size in batches:
            n = last - base + 1
            if pid >= 0:
                p.producer_state.update(pid, epoch, seq, n, next_offset, next_offset + n - 1)
                if attrs & ATTR_TRANSACTIONAL:
                    p.producer_state.begin_txn(pid, next_offset)
            next_offset += n
        self.metrics.produced(topic, len(records), next_offset - base_offset)
        result["base_offset"] = base_offset
        result["log_start_offset"] = p.log.start_offset
        end = p.log.end_offset
        p.notify_append()
        if ls is not None:
            ls.high_watermark(end)
            if acks == -1:
                await self._await_replication(ls, end, min_isr, result)
        return result

    async def _await_replication(self, ls: LeaderReplicas, end: int, min_isr: int, result: dict[str, Any]) -> None:
        """acks=all: waits until the high watermark reaches `end`; sets the error when it did not."""
        replicated = await ls.wait_for_hw(end, self.produce_timeout)
        # Kafka's checkEnoughReplicasReachOffset: the ISR that took the records must
        # still be at least min.insync.replicas strong (it may have shrunk meanwhile).
        if not ls.min_isr_ok(min_isr):
            result["error_code"] = ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND
        elif not replicated:
            # Leadership ended meanwhile (moved, controlled shutdown): ask the new leader.
            result["error_code"] = ErrorCode.NOT_LEADER_OR_FOLLOWER if ls.closed else ErrorCode.REQUEST_TIMED_OUT

    produce_timeout = 30.0  # seconds an acks=all produce waits at most (the request's timeout_ms lowers it)

    async def _check_transactional(self, p: Partition, batches: list[Any],
                                   transactional_id: str | None) -> tuple[ErrorCode, str] | None:
        """Why a Produce's batches may not be appended for transactional reasons, or None:
        control batches come from transaction coordinators only; transactional batches need
        the request's transactional id and a partition added to the producer's open
        transaction (KIP-890 part 1), asked of the coordinator (in a cluster, over the wire
        with AddPartitionsToTxn v4 verify-only) once per producer epoch and transaction."""
        for (_base, _last, pid, epoch, _seq, _n, _ts, attrs), _size in batches:
            if attrs & ATTR_CONTROL:
                return ErrorCode.INVALID_RECORD, "control batches are not accepted from clients"
            if not attrs & ATTR_TRANSACTIONAL:
                continue
            if not transactional_id:
                return ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "transactional batches need a transactional id"
            if p.producer_state.verified.get(pid) == epoch or not self.config.get("transaction.partition.verification.enable"):
                continue
            err = self.txns.verify(transactional_id, pid, epoch, (p.topic, p.index))
            if err == ErrorCode.NOT_COORDINATOR and self.cluster is not None:
                err = await self.cluster.verify_txn_partition(transactional_id, pid, epoch, (p.topic, p.index))
            if err == ErrorCode.NONE:
                p.producer_state.verified[pid] = epoch  # until the transaction's marker
                continue
            if err == ErrorCode.PRODUCER_FENCED:
                return ErrorCode.INVALID_PRODUCER_EPOCH, f"producer epoch {epoch} is fenced"
            if err in (ErrorCode.INVALID_TXN_STATE, ErrorCode.INVALID_PRODUCER_ID_MAPPING, ErrorCode.INVALID_PRODUCER_EPOCH):
                msg = "Partition was not added to the transaction" if err == ErrorCode.INVALID_TXN_STATE else err.name
                return err, msg
            # The coordinator is away or busy: retriable (Kafka answers NOT_ENOUGH_REPLICAS too).
            return ErrorCode.NOT_ENOUGH_REPLICAS, f"transaction not verified with its coordinator: {err.name}"
        return None

    # ----- transactions --------------------------------------------------------------

    def ensure_txn_state_topic(self) -> None:
        """Creates ``__transaction_state`` on a single broker (the cluster creates its own)."""
        if self.store.topic_partition_count(TXN_STATE_TOPIC) is not None:
            return
        config = txn_state_topic_config(self.config.get("transaction.state.log.segment.bytes"))
        try:
            self.store.create_topic(TXN_STATE_TOPIC, self.txns.num_partitions, config)
        except TopicExistsError:
            pass

    def _owns_txn_partition(self, p: int) -> int | None:
        """The coordinator epoch when this broker coordinates __transaction_state-`p`: always
        (epoch 0) on a single broker once the topic exists; in a cluster when it leads it."""
        if self.cluster is None:
            return 0 if self.store.topic_partition_count(TXN_STATE_TOPIC) is not None else None
        part = self.partitions.get((TXN_STATE_TOPIC, p))
        return part.leader_epoch if part is not None and part.role == "leader" else None

    async def _replicated(self, p: Partition, timeout: float = 10.0) -> bool:
        """Waits until the partition's in-sync replicas have its whole log (what acks=all means);
        at once on a single broker. Wakes the partition's parked fetches either way."""
        p.notify_append()
        if self.cluster is None:
            return True
        ls = p.leader_state
        if ls is None:
            return False
        end = p.log.end_offset
        ls.high_watermark(end)
        return await ls.wait_for_hw(end, timeout)

    async def _txn_state_replicated(self, index: int) -> bool:
        p, _err = self.leader_partition(TXN_STATE_TOPIC, index)
        return p is not None and await self._replicated(p)

    async def write_txn_markers(self, producer_id: int, epoch: int, commit: bool, coordinator_epoch: int,
                                partitions: list[tuple[str, int]]) -> dict[tuple[str, int], ErrorCode]:
        """Writes a transaction's COMMIT/ABORT markers: to this broker's partitions directly, to
        the others through their leaders (WriteTxnMarkers). An error per partition."""
        results: dict[tuple[str, int], ErrorCode] = {}
        remote: dict[int, list[tuple[str, int]]] = {}
        for tp in partitions:
            leader = self.node_id
            if self.cluster is not None:
                info = self.cluster.partition_info(*tp)
                if info is None:
                    results[tp] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                    continue
                leader = info.leader
            if leader == self.node_id:
                results[tp] = await self.write_txn_marker(tp[0], tp[1], producer_id, epoch, commit, coordinator_epoch)
            elif leader < 0:
                results[tp] = ErrorCode.LEADER_NOT_AVAILABLE
            else:
                remote.setdefault(leader, []).append(tp)
        if remote and self.cluster is not None:
            replies = await asyncio.gather(*(self.cluster.write_txn_markers(
                broker_id, producer_id, epoch, commit, coordinator_epoch, tps) for broker_id, tps in remote.items()))
            for reply in replies:
                results.update(reply)
        return results

    async def write_txn_marker(self, topic: str, index: int, producer_id: int, epoch: int, commit: bool,
                               coordinator_epoch: int) -> ErrorCode:
        """Appends one COMMIT/ABORT marker to a partition this broker leads and applies it
        (producer state, aborted-transaction index, transactional offset commits); waits
        for the in-sync replicas."""
        p, err = self.leader_partition(topic, index)
        if p is None:
            return err
        if not p.producer_state.check_marker(producer_id, epoch):
            return ErrorCode.INVALID_PRODUCER_EPOCH
        batch = encode_marker_batch(producer_id, epoch, commit, coordinator_epoch, int(time.time() * 1000))
        try:
            offset = p.log.append_raw(batch)
        except OSError as e:
            logger.error("transaction marker for %s-%d failed: %s", topic, index, e)
            return ErrorCode.KAFKA_STORAGE_ERROR
        p.producer_state.end_txn(p.log, producer_id, epoch, offset, aborted=not commit)
        if topic == OFFSETS_TOPIC:
            self.offsets.complete_txn(index, producer_id, commit)
        if not await self._replicated(p):
            return ErrorCode.NOT_ENOUGH_REPLICAS
        return ErrorCode.NONE

    # ----- fetch -------------------------------------------------------------------------

    def read_partition(self, topic: str, index: int, offset: int, max_bytes: int, isolation_level: int = 0) -> dict[str, Any]:
        """One partition of a Fetch response (records as a zero-copy memoryview). A partition
        in error carries empty records and -1 offsets, as Kafka's (never null records:
        librdkafka rejects the whole response then). read_committed (isolation level 1) reads
        up to the last stable offset and lists the aborted transactions of what it returns."""
        out = empty_fetch_partition(index)
        p, err = self.leader_partition(topic, index)
        if p is None:
            out["error_code"] = err
            return out
        hw = p.high_watermark
        lso = p.last_stable_offset
        limit = lso if isolation_level == READ_COMMITTED else hw
        aborted = None
        try:
            if offset < limit and max_bytes > 0:
                records = p.log.read(offset, max_bytes, limit)
                self.metrics.fetched(topic, len(records))
                if isolation_level == READ_COMMITTED:
                    aborted = self._aborted_in(p, offset, records)
            elif not p.log.start_offset <= offset <= p.log.end_offset:
                # (Kafka's range is up to the log end: a new leader's high watermark may lag the
                # old one's for a moment, and a consumer there must wait, not reset.)
                raise OffsetOutOfRangeError(f"offset {offset} outside [{p.log.start_offset}, {p.log.end_offset}]")
            else:
                records = b""
        except OffsetOutOfRangeError:
            out["error_code"] = ErrorCode.OFFSET_OUT_OF_RANGE
            return out
        except (OSError, CorruptRecordError) as e:  # a damaged segment: the others are still served
            logger.error("fetch from %s-%d at offset %d: %s", topic, index, offset, e)
            out["error_code"] = ErrorCode.KAFKA_STORAGE_ERROR if isinstance(e, OSError) else ErrorCode.CORRUPT_MESSAGE
            return out
        out["high_watermark"], out["last_stable_offset"] = hw, lso
        out["log_start_offset"] = p.log.start_offset
        out["records"] = records
        if isolation_level == READ_COMMITTED:
            out["aborted_transactions"] = aborted or []
        return out

    @staticmethod
    def _aborted_in(p: Partition, offset: int, records: Any) -> list[dict[str, int]]:
        """The aborted transactions a read_committed fetch of `records` (read from `offset`) reports."""
        index = p.producer_state.txn_index
        if not len(index) or not len(records):
            return []
        mv = memoryview(records)
        pos, upper = 0, offset
        while pos + 27 <= len(mv):  # the offset after the last batch returned
            base, length = _BATCH_PREFIX.unpack_from(mv, pos)
            upper = base + _LAST_OFFSET_DELTA.unpack_from(mv, pos + 23)[0] + 1
            pos += 12 + length
        return [{"producer_id": e.producer_id, "first_offset": e.first_offset} for e in index.collect(offset, upper)]

    def read_for_follower(self, topic: str, fp: dict[str, Any], replica_id: int, max_bytes: int) -> dict[str, Any]:
        """One partition of a follower's Fetch (the cluster layer answers it)."""
        p, err = self.leader_partition(topic, fp["partition"])
        if p is None or self.cluster is None:
            out = empty_fetch_partition(fp["partition"])
            out["error_code"] = err if p is None else ErrorCode.NOT_LEADER_OR_FOLLOWER
            return out
        return self.cluster.read_for_follower(topic, fp, replica_id, max_bytes)

    def end_offset_for_epoch(self, topic: str, index: int, current_epoch: int, epoch: int) -> tuple[ErrorCode, int, int]:
        """OffsetForLeaderEpoch for one partition: (error, epoch, end offset)."""
        p, err = self.leader_partition(topic, index)
        if p is None:
            return err, -1, -1
        if self.cluster is None:
            # One broker, one leader epoch since the partition was created.
            if epoch > p.log.leader_epoch:
                return ErrorCode.NONE, -1, -1
            return ErrorCode.NONE, p.log.leader_epoch, p.log.end_offset
        err, e, end = self.cluster.end_offset_for_epoch(p, current_epoch, epoch)
        return ErrorCode(err), e, end

    def list_offset(self, topic: str, index: int, timestamp: int, isolation_level: int = 0) -> tuple[ErrorCode, int, int]:
        """(error, offset, timestamp) for ListOffsets; "latest" is the last stable offset for read_committed."""
        p, err = self.leader_partition(topic, index)
        if p is None:
            return err, -1, -1
        if timestamp == EARLIEST:
            return ErrorCode.NONE, p.log.start_offset, -1
        if timestamp == LATEST:
            return ErrorCode.NONE, p.last_stable_offset if isolation_level == READ_COMMITTED else p.high_watermark, -1
        if timestamp == MAX_TIMESTAMP:
            best = (-1, -1)
            for base, last, _pid, _ep, _seq, _n, max_ts, _a in p.log.scan_batches(p.log.start_offset):
                if max_ts > best[0]:
                    best = (max_ts, last)
            return ErrorCode.NONE, best[1], best[0]
        if timestamp < 0:
            return ErrorCode.INVALID_REQUEST, -1, -1
        off = p.log.offset_for_timestamp(timestamp)
        if off is None:
            return ErrorCode.NONE, -1, -1
        rec = p.log.records(off, 1)
        return ErrorCode.NONE, off, rec[0].timestamp if rec else -1


def _has_keyless_record(records: Any) -> bool:
    """Whether a Produce request's batches hold a record with a null key (undecodable
    bytes count as none: the append rejects them)."""
    try:
        return any(r.key is None for r in decode_records(records))
    except CorruptRecordError:
        return False


_OPEN_FAILURE_LOG_INTERVAL = 60.0
_OPENS_PER_THREAD_TASK = 64  # partitions opened per work item of open_partitions
_OPEN_THREADS = 2  # work items of open_partitions running at once
# A request naming thousands of partitions (a producer or consumer of 10,000), or a periodic
# pass over every partition, is handled in slices of this many, yielding to the event loop in
# between (nothing holds it for long).
PARTITIONS_PER_SLICE = 256


def _timestamp_error(config: dict[str, Any], records: Any, batches: list[Any], now_ms: int) -> tuple[int, str] | None:
    """(record index, message) of the first record whose CreateTime timestamp is out of the topic's
    message.timestamp.before/after.max.ms (difference.max.ms for either not set), or None."""
    diff = config["message.timestamp.difference.max.ms"]
    before = config["message.timestamp.before.max.ms"]
    after = config["message.timestamp.after.max.ms"]
    before, after = (diff if before == LONG_MAX else before), (diff if after == LONG_MAX else after)
    if before == LONG_MAX and (after == LONG_MAX or all(s[6] - now_ms <= after for s, _size in batches)):
        return None  # nothing can be too old, and no batch's max timestamp is too new
    lo, hi = now_ms - before, now_ms + after
    for i, rec in enumerate(decode_records(records)):
        if rec.timestamp >= 0 and not lo <= rec.timestamp <= hi:
            return i, (f"Timestamp {rec.timestamp} of record {i} is out of range: it must be within [{lo}, {hi}] "
                       f"(message.timestamp.before.max.ms={before}, message.timestamp.after.max.ms={after})")
    return None


def empty_fetch_partition(index: int) -> dict[str, Any]:
    """One partition of a Fetch response with nothing in it yet: offsets unknown (-1) and
    empty records, what Kafka answers for a partition in error."""
    return {"partition_index": index, "error_code": 0, "high_watermark": -1, "last_stable_offset": -1,
            "log_start_offset": -1, "aborted_transactions": None, "preferred_read_replica": -1, "records": b""}
