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
import logging
import os
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pystream._core import peek_batches
from pystream.coordinator.group import GroupCoordinator
from pystream.coordinator.offsets import OFFSETS_TOPIC, open_offset_store
from pystream.errors import CorruptRecordError, OffsetOutOfRangeError, TopicExistsError
from pystream.protocol.error_codes import ErrorCode
from pystream.security.manager import SecurityManager
from pystream.server.cluster_link import ClusterLink
from pystream.server.config import BrokerConfig
from pystream.server.partition import Partition
from pystream.storage.manager import LogManager
from pystream.storage.producer_state import ProducerState, SequenceCheck
from pystream.storage.topic_config import normalize_topic_config, validate_topic_name

logger = logging.getLogger("pystream.server")

EARLIEST, LATEST, MAX_TIMESTAMP = -2, -1, -3
_SEQUENCE_ERRORS = {
    SequenceCheck.OUT_OF_ORDER: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
    SequenceCheck.INVALID_EPOCH: ErrorCode.INVALID_PRODUCER_EPOCH,
    SequenceCheck.UNKNOWN_PRODUCER: ErrorCode.UNKNOWN_PRODUCER_ID,
}


class ProducerIdAllocator:
    """Hands out producer ids, persisting the end of the reserved block so ids
    are never reused across restarts."""

    BLOCK = 1000

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "producer-id-block"
        try:
            start = int(self.path.read_text().strip())
        except (OSError, ValueError):
            start = 0
        self.next_id = start
        self.block_end = start
        self._reserve()

    def _reserve(self) -> None:
        self.block_end = self.next_id + self.BLOCK
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write(f"{self.block_end}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def allocate(self) -> int:
        if self.next_id >= self.block_end:
            self._reserve()
        pid = self.next_id
        self.next_id += 1
        return pid


class Broker:
    """A single Kafka-compatible broker over one data directory."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.node_id: int = config.get("broker.id")
        # Listeners, TLS, SASL, ACLs, quotas: checked before anything is written (SecurityConfigError).
        self.security = SecurityManager(config.values, config.data_dir, config.host, config.port)
        config.data_dir.mkdir(parents=True, exist_ok=True)
        # The broker decides on auto-creation itself (it knows the request's wishes).
        self.store = LogManager(config.data_dir, auto_create_topics=False, num_partitions=config.get("num.partitions"),
                                **config.log_kwargs())
        self.cluster_id = self._load_cluster_id()
        self.partitions: dict[tuple[str, int], Partition] = {}
        self.producer_ids = ProducerIdAllocator(config.data_dir)
        self.offsets = open_offset_store(self.store, config.get("offsets.topic.num.partitions"))
        self.groups = GroupCoordinator(
            self.offsets,
            initial_rebalance_delay_ms=config.get("group.initial.rebalance.delay.ms"),
            min_session_timeout_ms=config.get("group.min.session.timeout.ms"),
            max_session_timeout_ms=config.get("group.max.session.timeout.ms"),
        )
        # Listener name -> the (host, port) clients are told to use (a port 0 listener: set once bound).
        self.endpoints: dict[str, tuple[str, int]] = {
            e.name: (e.host or socket.getfqdn(), e.port) for e in self.security.listeners.advertised}
        self._tasks: list[asyncio.Task[None]] = []
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

    # ----- lifecycle ---------------------------------------------------------------

    def _load_cluster_id(self) -> str:
        path = self.config.data_dir / "meta.properties"
        props: dict[str, str] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                if "=" in line and not line.startswith("#"):
                    k, v = line.split("=", 1)
                    props[k.strip()] = v.strip()
        if "cluster.id" not in props:
            props = {"version": "0", "cluster.id": _kafka_uuid(), "broker.id": str(self.node_id)}
            path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return props["cluster.id"]

    async def start(self) -> None:
        """Periodic work (retention, the flush policy, group expirations) and, in a
        cluster, registration with ZooKeeper."""
        if self.cluster is not None:
            await self.cluster.start()
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._every(self.config.get("log.retention.check.interval.ms") / 1000, self._retention)))
        self._tasks.append(loop.create_task(self._every(self.config.get("log.flush.scheduler.interval.ms") / 1000, self._flush_policy)))
        self._tasks.append(loop.create_task(self._every(0.1, self.groups.tick)))

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
        for p in self.partitions.values():
            p.log.flush()
            p.producer_state.save(p.log.end_offset)
            p.notify_append()
        self.partitions.clear()
        self.store.close()

    # ----- partitions ----------------------------------------------------------------

    def partition(self, topic: str, index: int) -> Partition | None:
        """The partition, opened on first use; None when the topic or partition does not exist."""
        key = (topic, index)
        p = self.partitions.get(key)
        if p is not None:
            return p
        count = self.store.list_topics(include_internal=True).get(topic)
        if count is None or not 0 <= index < count:
            return None
        log = self.store.partition_log(topic, index)
        state = ProducerState(log.path)
        state.load(log)
        p = self.partitions[key] = Partition(topic, index, log, state, replicated=self.cluster is not None)
        if self.cluster is not None:
            self.cluster.partition_opened(p)  # it takes up its role
        return p

    def topic_id(self, topic: str) -> uuid.UUID:
        """The topic's id (Metadata v10+, CreateTopics v7+): stable for the life of the topic."""
        if self.cluster is not None:
            return self.cluster.topic_id(topic) or uuid.UUID(int=0)
        return self.store.topic_id(topic)

    def topic_name(self, topic_id: uuid.UUID | None) -> str | None:
        if topic_id is None:
            return None
        for name in self.store.list_topics(include_internal=True):
            if self.store.topic_id(name) == topic_id:
                return name
        return None

    def topic_exists(self, topic: str) -> bool:
        return topic in self.topic_partitions()

    def topic_partitions(self) -> dict[str, int]:
        """Topic name -> partition count, as the cluster (or the local store) knows them."""
        if self.cluster is not None:
            return self.cluster.topic_partitions()
        return self.store.list_topics(include_internal=True)

    async def create_topic(self, name: str, partitions: int, replication_factor: int, config: dict[str, Any]) -> None:
        """Creates a topic (ValueError: bad name, config or replication factor)."""
        if self.cluster is not None:
            validate_topic_name(name)
            normalize_topic_config(config)
            await self.cluster.create_topic(name, partitions, replication_factor, config)
            return
        if replication_factor != 1:
            raise ValueError(f"replication factor {replication_factor} is larger than the 1 available broker")
        self.store.create_topic(name, partitions=partitions, config=config)

    async def auto_create(self, topic: str) -> ErrorCode:
        """Creates a topic on first use when auto.create.topics.enable is set."""
        if not self.config.get("auto.create.topics.enable"):
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
            p = self.partitions.pop(key)
            p.notify_append()

    def delete_local_topic(self, topic: str) -> None:
        """Deletes this broker's replicas of `topic` and the offsets groups committed for it."""
        self.forget_topic(topic)
        self.store.delete_topic(topic)
        if topic != OFFSETS_TOPIC:
            self.offsets.delete_topic(topic)

    # ----- produce -------------------------------------------------------------------

    async def append_records(self, topic: str, index: int, records: Any, acks: int = 1) -> dict[str, Any]:
        """Appends a Produce request's records to one partition; the partition's response.
        In a cluster with acks=all it waits until the in-sync replicas have them."""
        result: dict[str, Any] = {"index": index, "error_code": 0, "base_offset": -1, "log_append_time_ms": -1, "log_start_offset": -1}
        p = self.partition(topic, index)
        if p is None:
            if not self.topic_exists(topic) and await self.auto_create(topic) == ErrorCode.NONE:
                p = self.partition(topic, index)
            if p is None:
                result["error_code"] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                return result
        if not p.is_leader:
            result["error_code"] = ErrorCode.NOT_LEADER_OR_FOLLOWER
            return result
        ls = p.leader_state
        topic_config = self.store.topic_config(topic)  # one copy of the topic's overrides per request
        min_isr = int(topic_config.get("min.insync.replicas", self.config.get("min.insync.replicas")))
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
        max_bytes = topic_config.get("max.message.bytes", self.config.get("message.max.bytes"))
        for _summary, size in batches:
            if size > max_bytes:
                result["error_code"] = ErrorCode.MESSAGE_TOO_LARGE
                result["error_message"] = f"batch of {size} bytes exceeds max.message.bytes={max_bytes}"
                return result
        # Idempotence: judge every batch before anything is appended.
        for (base, last, pid, epoch, seq, count, _ts, _attrs), _size in batches:
            if pid < 0:
                continue
            verdict, first_offset = p.producer_state.check(pid, epoch, seq, last - base + 1)
            if verdict is SequenceCheck.DUPLICATE:
                # A retry of a batch we already have: acknowledge it with its original offset.
                result["base_offset"] = first_offset
                result["log_start_offset"] = p.log.start_offset
                return result
            if verdict is not SequenceCheck.OK:
                result["error_code"] = _SEQUENCE_ERRORS[verdict]
                return result
        try:
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
        result["base_offset"] = base_offset
        result["log_start_offset"] = p.log.start_offset
        end = p.log.end_offset
        p.notify_append()
        if ls is not None:
            ls.high_watermark(end)
            if acks == -1:
                replicated = await ls.wait_for_hw(end, self.produce_timeout)
                # Kafka's checkEnoughReplicasReachOffset: the ISR that took the records must
                # still be at least min.insync.replicas strong (it may have shrunk meanwhile).
                if not ls.min_isr_ok(min_isr):
                    result["error_code"] = ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND
                elif not replicated:
                    result["error_code"] = ErrorCode.REQUEST_TIMED_OUT
        return result

    produce_timeout = 30.0  # seconds an acks=all produce waits at most (the request's timeout_ms lowers it)

    # ----- fetch -------------------------------------------------------------------------

    def read_partition(self, topic: str, index: int, offset: int, max_bytes: int) -> dict[str, Any]:
        """One partition of a Fetch response (records as a zero-copy memoryview)."""
        out = empty_fetch_partition(index)
        out["records"] = b""
        p = self.partition(topic, index)
        if p is None:
            out["error_code"] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            out["records"] = None
            return out
        if not p.is_leader:
            out["error_code"] = ErrorCode.NOT_LEADER_OR_FOLLOWER
            out["records"] = None
            return out
        hw = p.high_watermark
        out["high_watermark"] = out["last_stable_offset"] = hw
        out["log_start_offset"] = p.log.start_offset
        try:
            if offset < hw and max_bytes > 0:
                out["records"] = p.log.read(offset, max_bytes, hw)
            elif not p.log.start_offset <= offset <= hw:
                raise OffsetOutOfRangeError(f"offset {offset} outside [{p.log.start_offset}, {hw}]")
        except OffsetOutOfRangeError:
            out["error_code"] = ErrorCode.OFFSET_OUT_OF_RANGE
            out["records"] = None
        return out

    def read_for_follower(self, topic: str, fp: dict[str, Any], replica_id: int, max_bytes: int) -> dict[str, Any]:
        """One partition of a follower's Fetch (the cluster layer answers it)."""
        p = self.partition(topic, fp["partition"])
        if p is None or self.cluster is None:
            out = empty_fetch_partition(fp["partition"])
            out["error_code"] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if p is None else ErrorCode.NOT_LEADER_OR_FOLLOWER
            return out
        return self.cluster.read_for_follower(topic, fp, replica_id, max_bytes)

    def end_offset_for_epoch(self, topic: str, index: int, current_epoch: int, epoch: int) -> tuple[ErrorCode, int, int]:
        """OffsetForLeaderEpoch for one partition: (error, epoch, end offset)."""
        p = self.partition(topic, index)
        if p is None:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1, -1
        if not p.is_leader:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER, -1, -1
        if self.cluster is None:
            # One broker, one leader epoch since the partition was created.
            if epoch > p.log.leader_epoch:
                return ErrorCode.NONE, -1, -1
            return ErrorCode.NONE, p.log.leader_epoch, p.log.end_offset
        err, e, end = self.cluster.end_offset_for_epoch(p, current_epoch, epoch)
        return ErrorCode(err), e, end

    def list_offset(self, topic: str, index: int, timestamp: int) -> tuple[ErrorCode, int, int]:
        """(error, offset, timestamp) for ListOffsets."""
        p = self.partition(topic, index)
        if p is None:
            return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1, -1
        if not p.is_leader:
            return ErrorCode.NOT_LEADER_OR_FOLLOWER, -1, -1
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


def empty_fetch_partition(index: int) -> dict[str, Any]:
    """One partition of a Fetch response with nothing in it yet (records None)."""
    return {"partition_index": index, "error_code": 0, "high_watermark": -1, "last_stable_offset": -1,
            "log_start_offset": -1, "aborted_transactions": None, "preferred_read_replica": -1, "records": None}


def _kafka_uuid() -> str:
    """A random id in Kafka's form: URL-safe base64 of 16 bytes, no padding."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
