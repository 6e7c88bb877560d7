"""The follower side of replication: Kafka's ReplicaFetcherThread as one asyncio task per leader.

`ReplicaFetcher` keeps the partitions this broker follows from one leader in
step with it:

1. A partition added (or fenced, out of range, diverging) is TRUNCATING: the
   fetcher sends OffsetForLeaderEpoch(latest epoch of its epoch cache) and
   truncates its log to min(leader's end offset for that epoch, own end of
   that epoch, own LEO) (KIP-101/KIP-279). When the leader answers with an
   epoch the follower does not have, the follower first truncates to the end
   of its own largest epoch below it and asks again, as Kafka does. A
   partition with no epochs at all truncates to its high watermark.
2. Then it is FETCHING: Fetch v12 (replica_id = this broker, fetch_offset =
   own LEO, current_leader_epoch, last_fetched_epoch); returned batches are
   appended as they are (`append_raw(..., assign_offsets=False)`), the
   producer state and the epoch cache are updated from the batch headers, and
   the follower HW = min(leader HW, own LEO).

Invariants:

- a response is applied to a partition only if it is still the same
  `FollowerPartition` object, still FETCHING, and its LEO is still the offset
  that was fetched (so add/remove during an in-flight request is safe);
- after every truncation: epoch cache has no entry starting at or past the
  LEO, producer state is rebuilt from the log, HW <= LEO;
- the epoch cache and producer state only ever describe batches in the log.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pystream._core import batch_headers
from pystream.errors import PystreamError
from pystream.protocol.schema_data import ApiKey
from pystream.replication.connection import BrokerConnection, KafkaConnectionError, KafkaError
from pystream.replication.leader_epoch import UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET, LeaderEpochCache, whole_batches_length
from pystream.security.client import ClientSecurity
from pystream.storage.log import Log
from pystream.storage.producer_state import ProducerState
from pystream.storage.txn_index import ABORT, marker_type

logger = logging.getLogger("pystream.replication")

TopicPartition = tuple[str, int]

NONE = 0
OFFSET_OUT_OF_RANGE = 1
UNKNOWN_TOPIC_OR_PARTITION = 3
NOT_LEADER_OR_FOLLOWER = 6
FENCED_LEADER_EPOCH = 74
UNKNOWN_LEADER_EPOCH = 75

FETCH_VERSION = 12  # v13+ names topics by id
OFFSET_FOR_LEADER_EPOCH_VERSION = 4


class FetchState(enum.Enum):
    TRUNCATING = "truncating"
    FETCHING = "fetching"


@dataclass(eq=False)
class FollowerPartition:
    """One partition this broker follows: its log and the state replication keeps beside it.

    `leader_epoch` is the current leader epoch (from the controller / ZooKeeper);
    `high_watermark` is the follower's HW (<= log end offset).
    """

    topic: str
    partition: int
    log: Log
    producer_state: ProducerState
    epoch_cache: LeaderEpochCache
    leader_epoch: int
    high_watermark: int = 0
    state: FetchState = FetchState.TRUNCATING
    delayed_until: float = 0.0
    last_error: int = NONE

    @property
    def key(self) -> TopicPartition:
        return (self.topic, self.partition)

    def truncate_to(self, offset: int) -> None:
        """Truncates the log (at a batch boundary at or below `offset`) and everything derived from it."""
        if offset < self.log.end_offset:
            self.log.truncate_to(offset)
            self.producer_state.load(self.log)
            # A snapshot past the new end describes the cut history: were it left, a restart
            # after the log regrew past it would load it (Kafka deletes snapshots above the
            # truncation point).
            self.producer_state.save(self.log.end_offset)
        leo = self.log.end_offset
        self.epoch_cache.truncate_from_end(leo)
        self.high_watermark = min(self.high_watermark, leo)

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Kafka's truncateFullyAndStartAt: the log (and everything derived from it) emptied,
        restarting at `offset` (the leader's log start, above our log end)."""
        self.log.truncate_fully_and_start_at(offset)
        self.producer_state.producers.clear()
        self.producer_state.save(offset)
        self.epoch_cache.clear()
        self.high_watermark = offset

    def append_fetched(self, records: Any) -> int:
        """Appends the whole batches of a Fetch response's `records` (a trailing partial batch is
        ignored) with their offsets; updates epoch cache and producer state. Returns bytes appended."""
        mv = memoryview(records).cast("B")
        n = whole_batches_length(mv)
        if n == 0:
            return 0
        headers = batch_headers(mv[:n])
        leo = self.log.end_offset
        first = 0
        while first < len(headers) and headers[first]["last_offset"] < leo:
            first += 1  # already have it (the leader answered from a batch start below our LEO)
        if first == len(headers):
            return 0
        pos = headers[first]["position"]
        if headers[first]["base_offset"] < leo and self.log.start_offset == leo:
            # An empty log started inside this batch (the leader's log start, moved by
            # DeleteRecords, is mid-batch): start at the batch instead (Kafka does the same).
            self.truncate_fully_and_start_at(headers[first]["base_offset"])
        elif headers[first]["base_offset"] < leo:
            raise PystreamError(f"{self.topic}-{self.partition}: fetched batch [{headers[first]['base_offset']}, "
                                f"{headers[first]['last_offset']}] overlaps the log end offset {leo}")
        self.log.append_raw(mv[pos:n], assign_offsets=False)
        for h in headers[first:]:
            ple = h["partition_leader_epoch"]
            if ple >= 0:
                self.epoch_cache.assign(ple, h["base_offset"])
            if h["producer_id"] >= 0 and not h["is_control"]:
                self.producer_state.update(h["producer_id"], h["producer_epoch"], h["base_sequence"],
                                           h["record_count"], h["base_offset"], h["last_offset"])
                if h["is_transactional"]:
                    self.producer_state.begin_txn(h["producer_id"], h["base_offset"])
            elif h["is_control"]:  # a transaction marker: the transaction ends here too
                self.producer_state.end_txn(self.log, h["producer_id"], h["producer_epoch"], h["base_offset"],
                                            aborted=marker_type(mv, h["position"]) == ABORT)
        return n - pos


ErrorCallback = Callable[[TopicPartition, int, str], None]
AppendCallback = Callable[[FollowerPartition], None]


class ReplicaFetcher:
    """Fetches the partitions in `partitions` from the leader at leader_host:leader_port.

    `on_error(tp, error_code, message)` hears about partition errors (e.g.
    NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH: the broker should look up
    the new leader); `on_append(fp)` is called after a partition's log or HW
    moved (to wake consumers, checkpoint the HW). Start with `start()`, end
    with `await stop()`.
    """

    def __init__(self, broker_id: int, leader_host: str, leader_port: int,
                 partitions: Mapping[TopicPartition, FollowerPartition] | None = None, *,
                 max_wait_ms: int = 500, min_bytes: int = 1, max_bytes: int = 10 * 1024 * 1024,
                 partition_max_bytes: int = 1024 * 1024, backoff_ms: int = 1000, max_backoff_ms: int = 10000,
                 request_timeout_ms: int = 30000, on_error: ErrorCallback | None = None,
                 on_append: AppendCallback | None = None, client_id: str | None = None,
                 security: ClientSecurity | None = None) -> None:
        self.broker_id = broker_id
        self.leader_host, self.leader_port = leader_host, leader_port
        self.partitions: dict[TopicPartition, FollowerPartition] = {}
        self.max_wait_ms, self.min_bytes, self.max_bytes = max_wait_ms, min_bytes, max_bytes
        self.partition_max_bytes = partition_max_bytes
        self.backoff = backoff_ms / 1000
        self.max_backoff = max_backoff_ms / 1000
        self.request_timeout = request_timeout_ms / 1000
        self.on_error = on_error
        self.on_append = on_append
        self.client_id = client_id or f"replica-fetcher-{broker_id}"
        self.security = security  # the inter-broker listener's TLS / SASL settings (None: PLAINTEXT)
        self.conn: BrokerConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._stopped = False
        self.add_partitions(partitions or {})

    def __repr__(self) -> str:
        return f"<ReplicaFetcher {self.broker_id} <- {self.leader_host}:{self.leader_port} {sorted(self.partitions)}>"

    # ----- partitions ----------------------------------------------------------------

    def add_partitions(self, partitions: Mapping[TopicPartition, FollowerPartition]) -> None:
        """Starts following these partitions (replacing any with the same key): each truncates first."""
        for key, fp in partitions.items():
            fp.state = FetchState.TRUNCATING
            fp.delayed_until = 0.0
            self.partitions[key] = fp
        self._wakeup.set()

    def remove_partitions(self, keys: Iterable[TopicPartition]) -> dict[TopicPartition, FollowerPartition]:
        """Stops following these partitions; returns the removed ones."""
        return {k: fp for k in keys if (fp := self.partitions.pop(k, None)) is not None}

    # ----- life cycle ----------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name=repr(self))
        return self._task

    async def stop(self) -> None:
        self._stopped = True
        self._wakeup.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        if self.conn is not None:
            await self.conn.close()
            self.conn = None

    async def run(self) -> None:
        """The fetch loop; returns when stopped. Connection failures back off exponentially."""
        backoff = self.backoff
        failing = False  # in a run of connection failures (logged once, at INFO: an expected event)
        while not self._stopped:
            try:
                if self.conn is not None and self.conn.session_expired:
                    await self.conn.close()  # KIP-368: a fresh connection is a fresh SASL session
                    self.conn = None
                if self.conn is None or self.conn.closed:
                    self.conn = await BrokerConnection.connect(self.leader_host, self.leader_port, self.client_id,
                                                               self.request_timeout, security=self.security)
                    if failing:
                        logger.info("replica fetcher %s -> %s:%s: connected again", self.broker_id,
                                    self.leader_host, self.leader_port)
                        failing = False
                    elif self.security is not None and self.security.protocol != "PLAINTEXT":
                        logger.info("replica fetcher %s -> %s:%s: connected over %s%s", self.broker_id, self.leader_host,
                                    self.leader_port, self.security.protocol,
                                    f" ({self.security.mechanism} as {self.security.username})" if self.security.sasl else "")
                if not await self.do_work():
                    await self._idle()
                backoff = self.backoff
            except (KafkaConnectionError, KafkaError, OSError) as e:
                # A leader that died or restarts is expected (the broker stops this fetcher once
                # the leadership moves); a protocol error is not.
                level = logging.WARNING if isinstance(e, KafkaError) else logging.DEBUG if failing else logging.INFO
                logger.log(level, "replica fetcher %s -> %s:%s: %s", self.broker_id, self.leader_host,
                           self.leader_port, e)
                failing = not isinstance(e, KafkaError)
                if self.conn is not None:
                    await self.conn.close()
                    self.conn = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            except PystreamError:  # a storage error on our side: log it, keep the loop alive
                logger.exception("replica fetcher %s: storage error", self.broker_id)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not silently end replication from this leader
                logger.exception("replica fetcher %s -> %s:%s failed; retrying", self.broker_id, self.leader_host,
                                 self.leader_port)
                if self.conn is not None:
                    await self.conn.close()
                    self.conn = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    async def _idle(self) -> None:
        """Waits for new partitions or the end of the nearest back-off."""
        now = time.monotonic()
        delays = [fp.delayed_until - now for fp in self.partitions.values()]
        if delays and min(delays) <= 0:
            return  # a back-off ended since do_work looked (a preempted process): no wait, or none ever ends it
        self._wakeup.clear()
        try:
            await asyncio.wait_for(self._wakeup.wait(), min(delays) if delays else None)
        except asyncio.TimeoutError:
            pass

    async def do_work(self) -> bool:
        """One round: truncate what must be, then one Fetch. False if nothing was ready."""
        did = await self._truncate_round()
        now = time.monotonic()
        ready = [fp for fp in self.partitions.values()
                 if fp.state is FetchState.FETCHING and fp.delayed_until <= now]
        if ready:
            await self._fetch_round(ready)
            return True
        return did

    # ----- truncation (KIP-101 / KIP-279) ----------------------------------------------

    async def _truncate_round(self) -> bool:
        now = time.monotonic()
        todo = [fp for fp in self.partitions.values()
                if fp.state is FetchState.TRUNCATING and fp.delayed_until <= now]
        if not todo:
            return False
        with_epochs = []
        for fp in todo:
            if fp.epoch_cache.latest_epoch() == UNDEFINED_EPOCH:
                fp.truncate_to(fp.high_watermark)  # Kafka: no epochs -> truncate to the HW
                fp.state = FetchState.FETCHING
            else:
                with_epochs.append(fp)
        if not with_epochs:
            return True
        assert self.conn is not None
        version = self.conn.version_for(ApiKey.OFFSET_FOR_LEADER_EPOCH, OFFSET_FOR_LEADER_EPOCH_VERSION)
        topics: dict[str, list[dict[str, int]]] = {}
        sent: dict[TopicPartition, tuple[FollowerPartition, int]] = {}
        for fp in with_epochs:
            epoch = fp.epoch_cache.latest_epoch()
            topics.setdefault(fp.topic, []).append(
                {"partition": fp.partition, "current_leader_epoch": fp.leader_epoch, "leader_epoch": epoch})
            sent[fp.key] = (fp, epoch)
        resp = await self.conn.request(ApiKey.OFFSET_FOR_LEADER_EPOCH, version, {
            "replica_id": self.broker_id,
            "topics": [{"topic": t, "partitions": ps} for t, ps in topics.items()]})
        for t in resp["topics"]:
            for p in t["partitions"]:
                key = (t["topic"], p["partition"])
                fp, requested = sent.pop(key, (None, 0))
                if fp is None or self.partitions.get(key) is not fp or fp.state is not FetchState.TRUNCATING:
                    continue
                if p["error_code"]:
                    self._partition_error(fp, p["error_code"], "OffsetForLeaderEpoch")
                    continue
                self._apply_epoch_end_offset(fp, p["leader_epoch"], p["end_offset"])
        for fp, _ in sent.values():  # missing from the response
            if self.partitions.get(fp.key) is fp:
                self._partition_error(fp, UNKNOWN_TOPIC_OR_PARTITION, "OffsetForLeaderEpoch: no answer")
        return True

    def _apply_epoch_end_offset(self, fp: FollowerPartition, leader_epoch: int, end_offset: int) -> None:
        """Kafka's AbstractFetcherThread.getOffsetTruncationState, then the truncation."""
        leo = fp.log.end_offset
        done = True
        if end_offset == UNDEFINED_EPOCH_OFFSET:
            offset = fp.high_watermark
        elif leader_epoch == UNDEFINED_EPOCH:
            offset = min(end_offset, leo)
        else:
            f_epoch, f_end = fp.epoch_cache.end_offset_for(leader_epoch, leo)
            if f_epoch == UNDEFINED_EPOCH:
                offset = min(end_offset, leo)
            elif f_epoch != leader_epoch:
                # We do not have the leader's epoch: cut to the end of our largest epoch below it, ask again.
                offset, done = min(f_end, leo), False
            else:
                offset = min(f_end, end_offset, leo)
        before = leo
        fp.truncate_to(offset)
        if fp.log.end_offset < before:
            logger.info("%s-%s: truncated from %d to %d (leader epoch %d ends at %d)", fp.topic, fp.partition,
                        before, fp.log.end_offset, leader_epoch, end_offset)
        if done:
            fp.state = FetchState.FETCHING
        if self.on_append is not None and fp.log.end_offset < before:
            self.on_append(fp)

    # ----- fetch -----------------------------------------------------------------------

    async def _fetch_round(self, ready: list[FollowerPartition]) -> None:
        assert self.conn is not None
        version = self.conn.version_for(ApiKey.FETCH, FETCH_VERSION)
        topics: dict[str, list[dict[str, int]]] = {}
        sent: dict[TopicPartition, tuple[FollowerPartition, int]] = {}
        for fp in ready:
            leo = fp.log.end_offset
            topics.setdefault(fp.topic, []).append({
                "partition": fp.partition, "current_leader_epoch": fp.leader_epoch, "fetch_offset": leo,
                "last_fetched_epoch": fp.epoch_cache.latest_epoch(), "log_start_offset": fp.log.start_offset,
                "partition_max_bytes": self.partition_max_bytes})
            sent[fp.key] = (fp, leo)
        body = {"replica_id": self.broker_id, "max_wait_ms": self.max_wait_ms, "min_bytes": self.min_bytes,
                "max_bytes": self.max_bytes, "isolation_level": 0, "session_id": 0, "session_epoch": -1,
                "topics": [{"topic": t, "partitions": ps} for t, ps in topics.items()]}
        resp = await self.conn.request(ApiKey.FETCH, version, body,
                                       timeout=self.request_timeout + self.max_wait_ms / 1000)
        if resp.get("error_code"):
            for fp, _ in sent.values():
                self._partition_error(fp, resp["error_code"], "Fetch")
            return
        for t in resp["responses"]:
            for p in t["partitions"]:
                key = (t["topic"], p["partition_index"])
                fp, offset = sent.pop(key, (None, -1))
                if (fp is None or self.partitions.get(key) is not fp or fp.state is not FetchState.FETCHING
                        or fp.log.end_offset != offset):
                    continue
                self._apply_fetched(fp, p, version)

    def _apply_fetched(self, fp: FollowerPartition, p: dict[str, Any], version: int) -> None:
        code = p["error_code"]
        leader_start = p.get("log_start_offset", -1)
        if code == OFFSET_OUT_OF_RANGE and leader_start > fp.log.end_offset:
            # Our log ends below the leader's log start (we were away while it deleted records):
            # nothing here is worth keeping; start over at the leader's log start.
            logger.info("%s-%s: log end %d is below the leader's log start %d: starting over there",
                        fp.topic, fp.partition, fp.log.end_offset, leader_start)
            fp.truncate_fully_and_start_at(leader_start)
            fp.last_error = NONE
            if self.on_append is not None:
                self.on_append(fp)
            return
        if code:
            self._partition_error(fp, code, "Fetch")
            return
        div = p.get("diverging_epoch") or {}
        if version >= 12 and div.get("epoch", -1) >= 0:
            logger.info("%s-%s: leader reports divergence at epoch %d end offset %d", fp.topic, fp.partition,
                        div["epoch"], div["end_offset"])
            fp.state = FetchState.TRUNCATING
            return
        moved = False
        records = p["records"]
        if records is not None and len(records):
            try:
                moved = fp.append_fetched(records) > 0
            except PystreamError as e:
                fp.last_error = -1
                fp.delayed_until = time.monotonic() + self.backoff
                fp.state = FetchState.TRUNCATING
                self._report(fp, -1, f"appending fetched records failed: {e}")
                return
        leo = fp.log.end_offset
        hw = min(p["high_watermark"], leo)
        if hw != fp.high_watermark and hw >= 0:
            fp.high_watermark = hw
            moved = True
        if leader_start > fp.log.start_offset and leader_start <= leo:
            fp.log.delete_records_before(leader_start)
            fp.epoch_cache.truncate_from_start(fp.log.start_offset)
        fp.last_error = NONE
        if moved and self.on_append is not None:
            self.on_append(fp)

    def _partition_error(self, fp: FollowerPartition, code: int, what: str) -> None:
        """Kafka's per-partition fetch error handling: back off; truncate again where the log may diverge."""
        fp.last_error = code
        fp.delayed_until = time.monotonic() + self.backoff
        if code in (OFFSET_OUT_OF_RANGE, FENCED_LEADER_EPOCH):
            fp.state = FetchState.TRUNCATING
        if code != UNKNOWN_LEADER_EPOCH:  # the leader has not heard of our epoch yet: just retry
            self._report(fp, code, f"{what} error {code}")

    def _report(self, fp: FollowerPartition, code: int, message: str) -> None:
        # Leadership moving on is expected (INFO); anything else is worth a warning.
        level = logging.INFO if code in (NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, UNKNOWN_TOPIC_OR_PARTITION) \
            else logging.WARNING
        logger.log(level, "%s-%s from leader %s:%s: %s", fp.topic, fp.partition, self.leader_host, self.leader_port,
                   message)
        if self.on_error is not None:
            try:
                self.on_error(fp.key, code, message)
            except Exception:  # a callback bug must not stop replication
                logger.exception("on_error callback failed")
