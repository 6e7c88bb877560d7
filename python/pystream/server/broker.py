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
from pystream.errors import CorruptRecordError, LogDirectoryError, OffsetOutOfRangeError, TopicExistsError
from pystream.protocol.error_codes import ErrorCode
from pystream.security.manager import SecurityManager
from pystream.server.broker_files import ProducerIdAllocator, load_or_create_meta
from pystream.server.cluster_link import ClusterLink
from pystream.server.config import BROKER_CONFIGS, BrokerConfig
from pystream.server.dynamic_config import DEFAULT_ENTITY, DynamicConfigStore, FileDynamicConfigStore
from pystream.server.fetch_session import FetchSessionCache
from pystream.server.metrics import BrokerMetrics
from pystream.server.partition import LeaderReplicas, Partition
from pystream.storage.config_def import LONG_MAX
from pystream.storage.log import Log
from pystream.storage.manager import LogManager
from pystream.storage.producer_state import ProducerState, SequenceCheck
from pystream.storage.topic_config import is_compacted, normalize_topic_config, validate_topic_name

logger = logging.getLogger("pystream.server")

EARLIEST, LATEST, MAX_TIMESTAMP = -2, -1, -3
_SEQUENCE_ERRORS = {
    SequenceCheck.OUT_OF_ORDER: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
    SequenceCheck.INVALID_EPOCH: ErrorCode.INVALID_PRODUCER_EPOCH,
    SequenceCheck.UNKNOWN_PRODUCER: ErrorCode.UNKNOWN_PRODUCER_ID,
}


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
        """How far the log cleaner (in its own thread) may clean a partition: its high
        watermark (with transactions, its last stable offset); None when this broker does
        not know it (a replica it does not lead or follow yet)."""
        p = self.partitions.get((topic, index))  # dict reads are atomic
        if p is not None:
            return p.high_watermark
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

    def _retention(self) -> None:
        self.store.enforce_retention()

    def _flush_policy(self) -> None:
        for topic, index, log in self.store.flush_due():
            p = self.partitions.get((topic, index))
            if p is not None:
                p.producer_state.save(log.end_offset)

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
        yet, when a request names many of them (a first produce to thousands of partitions);
        a few are opened inline by `partition`. Partitions that fail to open are left for
        `partition` to report."""
        todo = list(dict.fromkeys(k for k in keys if k not in self.partitions and self._local_partition_exists(*k)))
        if len(todo) <= _INLINE_OPENS:
            return
        loop = asyncio.get_running_loop()

        def open_or_none(key: tuple[str, int]) -> tuple[Log, ProducerState] | None:
            try:
                return self._open_partition(*key)
            except OSError:
                return None

        opened = await asyncio.gather(*(loop.run_in_executor(self._io_pool, open_or_none, k) for k in todo))
        for key, files in zip(todo, opened):
            if files is not None and key not in self.partitions and self._local_partition_exists(*key):
                self._register(key[0], key[1], *files)

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

    async def append_records(self, topic: str, index: int, records: Any, acks: int = 1) -> dict[str, Any]:
        """Appends a Produce request's records to one partition; the partition's response.
        In a cluster with acks=all it waits until the in-sync replicas have them."""
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
        for (base, last, pid, epoch, seq, count, _ts, _attrs), _size in batches:
            n = last - base + 1
            if pid >= 0:
                p.producer_state.update(pid, epoch, seq, n, next_offset, next_offset + n - 1)
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

    # ----- fetch -------------------------------------------------------------------------

    def read_partition(self, topic: str, index: int, offset: int, max_bytes: int) -> dict[str, Any]:
        """One partition of a Fetch response (records as a zero-copy memoryview). A partition
        in error carries empty records and -1 offsets, as Kafka's (never null records:
        librdkafka rejects the whole response then)."""
        out = empty_fetch_partition(index)
        p, err = self.leader_partition(topic, index)
        if p is None:
            out["error_code"] = err
            return out
        hw = p.high_watermark
        try:
            if offset < hw and max_bytes > 0:
                records = p.log.read(offset, max_bytes, hw)
                self.metrics.fetched(topic, len(records))
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
        out["high_watermark"] = out["last_stable_offset"] = hw
        out["log_start_offset"] = p.log.start_offset
        out["records"] = records
        return out

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

    def list_offset(self, topic: str, index: int, timestamp: int) -> tuple[ErrorCode, int, int]:
        """(error, offset, timestamp) for ListOffsets."""
        p, err = self.leader_partition(topic, index)
        if p is None:
            return err, -1, -1
        if timestamp == EARLIEST:
            return ErrorCode.NONE, p.log.start_offset, -1
        if timestamp == LATEST:
            return ErrorCode.NONE, p.high_watermark, -1
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
# A request naming more unopened partitions than this opens them in threads first.
_INLINE_OPENS = 16


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
