"""The transaction coordinator (KIP-98): one per ``transactional.id``, its state durable in ``__transaction_state``.

A transactional id lives in partition ``partition_for_txn(id, n)`` of
``__transaction_state``; the broker leading that partition is its
coordinator. The coordinator keeps, per id, Kafka's TransactionMetadata:
producer id and epoch, timeout, state and the partitions of the open
transaction. Every state change is appended to the partition (Kafka's
TransactionLogKey/Value, see `txn_log`) and made as durable as an
acknowledged record (the page cache; fsync per the log.flush.* policy; the
in-sync replicas in a cluster) before it takes effect; loading a partition replays it (the latest record per id wins, a
tombstone removes the id).

State machine (Kafka's TransactionState, transaction protocol version 1)::

    Empty/CompleteCommit/CompleteAbort --AddPartitions/AddOffsets--> Ongoing
    Ongoing --EndTxn(commit)--> PrepareCommit --markers written--> CompleteCommit
    Ongoing --EndTxn(abort), timeout, fencing InitProducerId--> PrepareAbort --markers--> CompleteAbort
    Empty/Complete* --InitProducerId--> Empty with epoch + 1 (a new producer id when the epoch is exhausted)

Invariants:
- at most one state change per id is being written at a time (``pending``);
  a request meeting one answers CONCURRENT_TRANSACTIONS (after waiting a little);
- in PrepareCommit/PrepareAbort a completion task writes the markers to every
  partition of the transaction (retrying until each is written or its topic is
  gone) and then logs CompleteCommit/CompleteAbort with no partitions; after a
  restart or a change of coordinator, loading the partition restarts it;
- the coordinator only acts for partitions it owns (``owns(p)`` gives the
  coordinator epoch: the partition's leader epoch), and drops a partition's
  state when it stops owning it.

The coordinator knows nothing of the broker: it is handed a function returning
the log of a ``__transaction_state`` partition, a producer-id allocator, a
marker writer (the broker writes markers to local partitions and sends
WriteTxnMarkers to the leaders of the others) and ``replicated(p)`` (in a
cluster: wait until the partition's in-sync replicas have what was appended).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pystream.coordinator.txn_log import (
    TxnLogValue,
    TxnStatus,
    decode_txn_key,
    decode_txn_value,
    encode_txn_key,
    encode_txn_value,
    partition_for_txn,
)
from pystream.errors import CorruptRecordError, PystreamError
from pystream.protocol.error_codes import ErrorCode
from pystream.storage.log import Log

__all__ = ["TransactionCoordinator", "TxnConfig", "TxnMetadata"]

logger = logging.getLogger("pystream.coordinator")

TopicPartition = tuple[str, int]
# (producer id, epoch, commit?, coordinator epoch, partitions) -> error per partition
MarkerWriter = Callable[[int, int, bool, int, list[TopicPartition]], Awaitable[dict[TopicPartition, ErrorCode]]]

NO_PRODUCER_EPOCH = -1
MAX_EPOCH = 32767  # Short.MaxValue: an epoch of MAX_EPOCH - 1 is exhausted (Kafka bumps to a new producer id)
_REPLAY_CHUNK = 4096
# How long a request waits for a transition in flight (markers being written) before
# answering CONCURRENT_TRANSACTIONS, which clients retry.
_WAIT_FOR_COMPLETION_S = 5.0
# Marker errors after which a partition is dropped from the transaction instead of retried.
_FINAL_MARKER_ERRORS = {ErrorCode.NONE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.INVALID_PRODUCER_EPOCH}
_PREPARED = {TxnStatus.PREPARE_COMMIT, TxnStatus.PREPARE_ABORT}
_LOADS_PER_TICK = 5  # partitions loaded per maintenance pass (the others at the next ones)
_IDLE = {TxnStatus.EMPTY, TxnStatus.COMPLETE_COMMIT, TxnStatus.COMPLETE_ABORT}


@dataclass
class TxnConfig:
    """The broker's transaction settings (Kafka's names, see server/config.py)."""

    max_timeout_ms: int = 900000  # transaction.max.timeout.ms
    id_expiration_ms: int = 604800000  # transactional.id.expiration.ms
    abort_interval_ms: int = 10000  # transaction.abort.timed.out.transaction.cleanup.interval.ms
    expiration_interval_ms: int = 3600000  # transaction.remove.expired.transaction.cleanup.interval.ms


@dataclass
class TxnMetadata:
    """Kafka's TransactionMetadata of one transactional id."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    state: TxnStatus
    partitions: set[TopicPartition] = field(default_factory=set)
    start_ms: int = -1
    last_update_ms: int = -1
    last_producer_epoch: int = NO_PRODUCER_EPOCH  # the epoch before the last bump (KIP-360 retries)
    pending: TxnStatus | None = None  # a state change being written
    completion: asyncio.Task[None] | None = None  # markers being written (Prepare* states)

    def log_value(self, **changes: Any) -> TxnLogValue:
        v = TxnLogValue(self.producer_id, self.producer_epoch, self.timeout_ms, self.state, {}, self.last_update_ms, self.start_ms)
        parts = changes.pop("partitions", self.partitions)
        for k, x in changes.items():
            setattr(v, k, x)
        for t, p in parts:
            v.partitions.setdefault(t, []).append(p)
        return v

    def apply(self, v: TxnLogValue) -> None:
        self.producer_id, self.producer_epoch, self.timeout_ms, self.state = v.producer_id, v.producer_epoch, v.timeout_ms, v.status
        self.partitions = {(t, p) for t, ps in v.partitions.items() for p in ps}
        self.start_ms, self.last_update_ms = v.start_ms, v.last_update_ms

    @property
    def busy(self) -> bool:
        return self.pending is not None or (self.completion is not None and not self.completion.done())


class TransactionCoordinator:
    """Transaction coordinator for the ``__transaction_state`` partitions this broker owns (one asyncio loop)."""

    def __init__(
        self,
        state_log: Callable[[int], Log],
        num_partitions: int,
        *,
        allocate_producer_id: Callable[[], Awaitable[int]],
        write_markers: MarkerWriter,
        owns: Callable[[int], int | None] = lambda p: 0,
        replicated: Callable[[int], Awaitable[bool]] | None = None,
        partition_exists: Callable[[str, int], bool] | None = None,
        offsets_partition: Callable[[str], TopicPartition] | None = None,
        config: TxnConfig | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``owns(p)``: the coordinator epoch when this broker coordinates partition `p`, else
        None; ``offsets_partition(group)``: the ``__consumer_offsets`` partition of a group
        (AddOffsetsToTxn adds it to the transaction)."""
        if num_partitions <= 0:
            raise ValueError(f"num_partitions must be positive, got {num_partitions}")
        self.state_log = state_log
        self.num_partitions = num_partitions
        self.allocate_producer_id = allocate_producer_id
        self.write_markers = write_markers
        self.owns = owns
        self.replicated = replicated
        self.partition_exists = partition_exists
        self.offsets_partition = offsets_partition
        self.config = config or TxnConfig()
        self._clock = clock
        self._txns: dict[str, TxnMetadata] = {}
        self._loaded: dict[int, int] = {}  # partition -> coordinator epoch it was loaded under
        self._last_abort_check = 0.0
        self._last_expiration = 0.0

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def partition_for(self, transactional_id: str) -> int:
        return partition_for_txn(transactional_id, self.num_partitions)

    def metadata(self, transactional_id: str) -> TxnMetadata | None:
        """The in-memory metadata (for introspection and tests)."""
        return self._txns.get(transactional_id)

    # ----- loading -------------------------------------------------------------------

    def _ready(self, transactional_id: str) -> ErrorCode:
        """NONE when this broker coordinates the id (loading its partition if needed)."""
        p = self.partition_for(transactional_id)
        epoch = self.owns(p)
        if epoch is None:
            if p in self._loaded:
                self.unload_partition(p)
            return ErrorCode.NOT_COORDINATOR
        if self._loaded.get(p) != epoch:
            self.load_partition(p, epoch)
        return ErrorCode.NONE

    def load_partition(self, p: int, coordinator_epoch: int) -> None:
        """Replays partition `p` and takes over its transactions: restarts the completion of
        those in PrepareCommit/PrepareAbort."""
        if p in self._loaded:
            self.unload_partition(p)
        log = self.state_log(p)
        latest: dict[str, TxnLogValue | None] = {}
        pos = log.start_offset
        while pos < log.end_offset:
            records = log.records(pos, max_records=_REPLAY_CHUNK)
            if not records:
                break
            for rec in records:
                try:
                    tid = decode_txn_key(rec.key) if rec.key is not None else None
                    if tid is not None:
                        latest[tid] = None if rec.value is None else decode_txn_value(rec.value)
                except CorruptRecordError as e:
                    logger.warning("__transaction_state-%d offset %d: skipping a bad record: %s", p, rec.offset, e)
            pos = records[-1].offset + 1
        self._loaded[p] = coordinator_epoch
        for tid, v in latest.items():
            if v is None or v.status in (TxnStatus.DEAD,):
                continue
            meta = TxnMetadata(tid, v.producer_id, v.producer_epoch, v.timeout_ms, v.status)
            meta.apply(v)
            if meta.state is TxnStatus.PREPARE_EPOCH_FENCE:  # never logged by Kafka; be safe
                meta.state = TxnStatus.ONGOING
            self._txns[tid] = meta
            if meta.state in _PREPARED:
                self._start_completion(meta, p, coordinator_epoch)
        n = sum(1 for t in self._txns if self.partition_for(t) == p)
        (logger.info if n else logger.debug)("transaction coordinator: loaded __transaction_state-%d (epoch %d): %d transactional ids",
                                             p, coordinator_epoch, n)

    def unload_partition(self, p: int) -> None:
        """Forgets the transactional ids of partition `p` (this broker no longer coordinates it)."""
        self._loaded.pop(p, None)
        for tid in [t for t in self._txns if self.partition_for(t) == p]:
            meta = self._txns.pop(tid)
            if meta.completion is not None:
                meta.completion.cancel()

    async def close(self) -> None:
        tasks = [m.completion for m in self._txns.values() if m.completion is not None and not m.completion.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._txns.clear()
        self._loaded.clear()

    # ----- persistence -----------------------------------------------------------------

    async def _persist(self, meta: TxnMetadata, value: TxnLogValue | None) -> ErrorCode:
        """Appends the id's new state (None: a tombstone) and waits until it is as durable as an
        acknowledged record: handed to the OS (it survives the broker process; fsynced by the
        log.flush.* policy, as the data it commits), and in a cluster on the in-sync replicas.
        NOT_COORDINATOR when that fails."""
        p = self.partition_for(meta.transactional_id)
        epoch = self._loaded.get(p)
        key = encode_txn_key(meta.transactional_id)
        data = None if value is None else encode_txn_value(value)
        try:
            log = self.state_log(p)
            log.append_batch([data], keys=[key], timestamp_ms=self._now_ms())
            log.flush(fsync=False)  # out of the log's batch buffer into the page cache
        except (OSError, PystreamError) as e:  # a full disk, a log closed under us, a partition gone
            logger.error("writing the state of transactional id %r failed: %s", meta.transactional_id, e)
            return ErrorCode.NOT_COORDINATOR
        if self.replicated is not None and not await self.replicated(p):
            return ErrorCode.NOT_COORDINATOR
        if self._loaded.get(p) != epoch:  # lost the partition meanwhile
            return ErrorCode.NOT_COORDINATOR
        return ErrorCode.NONE

    async def _transition(self, meta: TxnMetadata, value: TxnLogValue) -> ErrorCode:
        """Writes a state change and applies it once durable (`meta.pending` set meanwhile)."""
        meta.pending = value.status
        try:
            err = await self._persist(meta, value)
        finally:
            meta.pending = None
        if err == ErrorCode.NONE:
            meta.apply(value)
        return err

    async def _wait_idle(self, meta: TxnMetadata, timeout: float = _WAIT_FOR_COMPLETION_S) -> bool:
        """Waits (bounded) for a state change or marker completion in flight; False on timeout."""
        deadline = time.monotonic() + timeout
        while meta.busy:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if meta.completion is not None and not meta.completion.done():
                try:
                    await asyncio.wait_for(asyncio.shield(meta.completion), left)
                except TimeoutError:
                    return False
                except asyncio.CancelledError:
                    if meta.completion.cancelled():
                        return False
                    raise
            else:
                await asyncio.sleep(0.005)
        return True

    # ----- completing a transaction: the markers -----------------------------------------

    def _start_completion(self, meta: TxnMetadata, p: int, coordinator_epoch: int) -> None:
        meta.completion = asyncio.get_running_loop().create_task(
            self._complete(meta, p, coordinator_epoch), name=f"txn-complete-{meta.transactional_id}")

    async def _complete(self, meta: TxnMetadata, p: int, coordinator_epoch: int) -> None:
        """Writes the markers of a prepared transaction to all its partitions, then logs its completion."""
        commit = meta.state is TxnStatus.PREPARE_COMMIT
        remaining = set(meta.partitions)
        backoff = 0.05
        while remaining:
            if self._loaded.get(p) != coordinator_epoch:
                return  # another coordinator took over: it completes the transaction
            try:
                results = await self.write_markers(meta.producer_id, meta.producer_epoch, commit, coordinator_epoch, sorted(remaining))
            except Exception:
                logger.exception("writing markers of transactional id %r failed", meta.transactional_id)
                results = {}
            for tp, err in results.items():
                if err in _FINAL_MARKER_ERRORS:
                    if err != ErrorCode.NONE:
                        logger.warning("transaction marker for %s-%d of %r: %s; dropping the partition from the transaction",
                                       tp[0], tp[1], meta.transactional_id, ErrorCode(err).name)
                    remaining.discard(tp)
            if remaining:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
        done = TxnStatus.COMPLETE_COMMIT if commit else TxnStatus.COMPLETE_ABORT
        while self._loaded.get(p) == coordinator_epoch:
            err = await self._transition(meta, meta.log_value(status=done, partitions=set(), last_update_ms=self._now_ms()))
            if err == ErrorCode.NONE:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    async def _prepare_end(self, meta: TxnMetadata, commit: bool, epoch: int | None = None) -> ErrorCode:
        """Ongoing -> PrepareCommit/PrepareAbort (with `epoch` when fencing), then the markers."""
        p = self.partition_for(meta.transactional_id)
        status = TxnStatus.PREPARE_COMMIT if commit else TxnStatus.PREPARE_ABORT
        changes: dict[str, Any] = {"status": status, "last_update_ms": self._now_ms()}
        if epoch is not None:
            changes["producer_epoch"] = epoch
        previous_epoch = meta.producer_epoch
        err = await self._transition(meta, meta.log_value(**changes))
        if err != ErrorCode.NONE:
            return err
        if epoch is not None:
            meta.last_producer_epoch = previous_epoch
        self._start_completion(meta, p, self._loaded[p])
        return ErrorCode.NONE

    # ----- the requests ------------------------------------------------------------------

    def _check_producer(self, meta: TxnMetadata | None, producer_id: int, epoch: int) -> ErrorCode:
        if meta is None or meta.producer_id != producer_id:
            return ErrorCode.INVALID_PRODUCER_ID_MAPPING
        if meta.producer_epoch != epoch:
            return ErrorCode.PRODUCER_FENCED
        return ErrorCode.NONE

    async def init_producer_id(self, transactional_id: str, timeout_ms: int, producer_id: int = -1,
                               producer_epoch: int = -1) -> tuple[ErrorCode, int, int]:
        """InitProducerId with a transactional id: (error, producer id, epoch). Bumps the epoch,
        fencing the previous producer; an open transaction of the id is aborted first."""
        if not transactional_id:
            return ErrorCode.INVALID_REQUEST, -1, -1
        if not 0 < timeout_ms <= self.config.max_timeout_ms:
            return ErrorCode.INVALID_TRANSACTION_TIMEOUT, -1, -1
        if (err := self._ready(transactional_id)) != ErrorCode.NONE:
            return err, -1, -1
        meta = self._txns.get(transactional_id)
        if meta is None:
            pid = await self.allocate_producer_id()
            meta = self._txns.setdefault(transactional_id, TxnMetadata(
                transactional_id, pid, NO_PRODUCER_EPOCH, timeout_ms, TxnStatus.EMPTY, last_update_ms=self._now_ms()))
        deadline = time.monotonic() + _WAIT_FOR_COMPLETION_S
        while True:
            if not await self._wait_idle(meta, max(0.0, deadline - time.monotonic())):
                return ErrorCode.CONCURRENT_TRANSACTIONS, -1, -1
            if self._txns.get(transactional_id) is not meta:
                return ErrorCode.NOT_COORDINATOR, -1, -1
            if producer_id >= 0 and not (meta.producer_id == producer_id and
                                         producer_epoch in (meta.producer_epoch, meta.last_producer_epoch)):
                return ErrorCode.PRODUCER_FENCED, -1, -1
            if meta.state is TxnStatus.ONGOING:
                # Fence the current producer: abort its transaction with a bumped epoch.
                err = await self._prepare_end(meta, commit=False, epoch=min(meta.producer_epoch + 1, MAX_EPOCH - 1))
                if err != ErrorCode.NONE:
                    return err, -1, -1
                continue
            if meta.state in _PREPARED:
                continue  # a completion is under way (started at load): wait for it
            break
        if producer_id >= 0 and producer_epoch == meta.last_producer_epoch and producer_epoch != meta.producer_epoch:
            return ErrorCode.NONE, meta.producer_id, meta.producer_epoch  # a retry of a bump already done
        pid, epoch = meta.producer_id, meta.producer_epoch + 1
        if epoch >= MAX_EPOCH - 1:
            pid, epoch = await self.allocate_producer_id(), 0
        now = self._now_ms()
        previous = meta.producer_epoch
        err = await self._transition(meta, meta.log_value(producer_id=pid, producer_epoch=epoch, timeout_ms=timeout_ms,
                                                          status=TxnStatus.EMPTY, partitions=set(), start_ms=-1,
                                                          last_update_ms=now))
        if err != ErrorCode.NONE:
            return err, -1, -1
        meta.last_producer_epoch = previous if pid == meta.producer_id else NO_PRODUCER_EPOCH
        return ErrorCode.NONE, pid, epoch

    async def add_partitions(self, transactional_id: str, producer_id: int, epoch: int,
                             partitions: Iterable[TopicPartition]) -> dict[TopicPartition, ErrorCode]:
        """AddPartitionsToTxn: an error per partition (all the same unless some partitions are
        unknown: those get UNKNOWN_TOPIC_OR_PARTITION, the others OPERATION_NOT_ATTEMPTED)."""
        tps = list(dict.fromkeys(partitions))
        if self.partition_exists is not None:
            unknown = [tp for tp in tps if not self.partition_exists(*tp)]
            if unknown:
                return {tp: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if tp in unknown else ErrorCode.OPERATION_NOT_ATTEMPTED
                        for tp in tps}
        err = await self._add(transactional_id, producer_id, epoch, tps)
        return {tp: err for tp in tps}

    async def add_offsets(self, transactional_id: str, producer_id: int, epoch: int, group_id: str) -> ErrorCode:
        """AddOffsetsToTxn: the group's ``__consumer_offsets`` partition joins the transaction."""
        if not group_id or self.offsets_partition is None:
            return ErrorCode.INVALID_REQUEST if self.offsets_partition is not None else ErrorCode.UNKNOWN_SERVER_ERROR
        return await self._add(transactional_id, producer_id, epoch, [self.offsets_partition(group_id)])

    async def _producer_request(self, transactional_id: str, producer_id: int, epoch: int,
                                wait_for_markers: bool) -> tuple[ErrorCode, TxnMetadata | None]:
        """The checks every request of a transactional producer passes: the id is coordinated
        here, the producer id and epoch are current, no state change is being written (nor,
        with `wait_for_markers`, markers); waits a little for one in flight."""
        if not transactional_id:
            return ErrorCode.INVALID_REQUEST, None
        if (err := self._ready(transactional_id)) != ErrorCode.NONE:
            return err, None
        meta = self._txns.get(transactional_id)
        if (err := self._check_producer(meta, producer_id, epoch)) != ErrorCode.NONE:
            return err, None
        assert meta is not None
        busy = meta.busy if wait_for_markers else meta.pending is not None
        if busy and not await self._wait_idle(meta):
            return ErrorCode.CONCURRENT_TRANSACTIONS, None
        # Fenced, expired or moved meanwhile?
        if (err := self._check_producer(self._txns.get(transactional_id), producer_id, epoch)) != ErrorCode.NONE:
            return err, None
        return ErrorCode.NONE, meta

    async def _add(self, transactional_id: str, producer_id: int, epoch: int, tps: list[TopicPartition]) -> ErrorCode:
        err, meta = await self._producer_request(transactional_id, producer_id, epoch, wait_for_markers=True)
        if meta is None:
            return err
        if meta.state in _PREPARED:
            return ErrorCode.CONCURRENT_TRANSACTIONS
        if meta.state is TxnStatus.ONGOING and set(tps) <= meta.partitions:
            return ErrorCode.NONE
        now = self._now_ms()
        start = meta.start_ms if meta.state is TxnStatus.ONGOING else now
        return await self._transition(meta, meta.log_value(status=TxnStatus.ONGOING, partitions=meta.partitions | set(tps),
                                                           start_ms=start, last_update_ms=now))

    async def end_txn(self, transactional_id: str, producer_id: int, epoch: int, commit: bool) -> ErrorCode:
        """EndTxn: commits or aborts the open transaction (answers once its markers are written,
        or after a few seconds, when they are still being written, with NONE all the same:
        the outcome is durable from PrepareCommit/PrepareAbort on)."""
        err, meta = await self._producer_request(transactional_id, producer_id, epoch, wait_for_markers=False)
        if meta is None:
            return err
        wanted_prepare = TxnStatus.PREPARE_COMMIT if commit else TxnStatus.PREPARE_ABORT
        wanted_done = TxnStatus.COMPLETE_COMMIT if commit else TxnStatus.COMPLETE_ABORT
        if meta.state is TxnStatus.ONGOING:
            err = await self._prepare_end(meta, commit)
            if err != ErrorCode.NONE:
                return err
        elif meta.state is wanted_done:
            return ErrorCode.NONE  # a retry of an EndTxn that completed
        elif meta.state is not wanted_prepare:
            return ErrorCode.INVALID_TXN_STATE
        await self._wait_idle(meta)
        return ErrorCode.NONE

    def verify(self, transactional_id: str, producer_id: int, epoch: int, tp: TopicPartition) -> ErrorCode:
        """KIP-890 part 1: may this producer write to `tp` now? INVALID_TXN_STATE when `tp` is
        not in its open transaction; NOT_COORDINATOR when the id is coordinated elsewhere."""
        if (err := self._ready(transactional_id)) != ErrorCode.NONE:
            return err
        meta = self._txns.get(transactional_id)
        if (err := self._check_producer(meta, producer_id, epoch)) != ErrorCode.NONE:
            return err
        assert meta is not None
        if meta.state is not TxnStatus.ONGOING or tp not in meta.partitions:
            return ErrorCode.INVALID_TXN_STATE
        return ErrorCode.NONE

    # ----- tools: DescribeTransactions, ListTransactions -----------------------------------------

    def describe(self, transactional_id: str) -> dict[str, Any]:
        """One entry of a DescribeTransactions response."""
        out: dict[str, Any] = {"error_code": 0, "transactional_id": transactional_id, "transaction_state": "",
                               "transaction_timeout_ms": 0, "transaction_start_time_ms": -1, "producer_id": -1,
                               "producer_epoch": -1, "topics": []}
        err = self._ready(transactional_id)
        meta = self._txns.get(transactional_id)
        if err == ErrorCode.NONE and meta is None:
            err = ErrorCode.TRANSACTIONAL_ID_NOT_FOUND
        if err != ErrorCode.NONE or meta is None:
            out["error_code"] = int(err)
            return out
        by_topic: dict[str, list[int]] = {}
        for t, p in sorted(meta.partitions):
            by_topic.setdefault(t, []).append(p)
        out.update(transaction_state=meta.state.display, transaction_timeout_ms=meta.timeout_ms,
                   transaction_start_time_ms=meta.start_ms, producer_id=meta.producer_id, producer_epoch=meta.producer_epoch,
                   topics=[{"topic": t, "partitions": ps} for t, ps in by_topic.items()])
        return out

    def list(self, states: Iterable[str] = (), producer_ids: Iterable[int] = (), min_duration_ms: int = -1) -> tuple[list[str], list[dict[str, Any]]]:
        """ListTransactions: (unknown state filters, the matching transactions) of the partitions owned."""
        self.maintain_ownership(max_loads=None)
        names = {s.display: s for s in TxnStatus}
        wanted = set(states)
        unknown = sorted(s for s in wanted if s not in names)
        pids = set(producer_ids)
        now = self._now_ms()
        out = []
        for tid, meta in sorted(self._txns.items()):
            if wanted and meta.state.display not in wanted:
                continue
            if pids and meta.producer_id not in pids:
                continue
            if min_duration_ms >= 0 and (meta.start_ms < 0 or now - meta.start_ms < min_duration_ms):
                continue
            out.append({"transactional_id": tid, "producer_id": meta.producer_id, "transaction_state": meta.state.display})
        return unknown, out

    # ----- time-driven work ----------------------------------------------------------------

    def maintain_ownership(self, max_loads: int | None = _LOADS_PER_TICK) -> None:
        """Drops the partitions this broker lost and loads (at most `max_loads` at a time: each
        opens and replays a log on the event loop) those it has come to own."""
        for p in range(self.num_partitions):
            epoch = self.owns(p)
            if epoch is None:
                if p in self._loaded:
                    self.unload_partition(p)
            elif self._loaded.get(p) != epoch and (max_loads is None or max_loads > 0):
                self.load_partition(p, epoch)
                if max_loads is not None:
                    max_loads -= 1

    async def tick(self) -> None:
        """Partition ownership, then (each at its interval) aborting timed-out transactions and
        removing expired transactional ids."""
        self.maintain_ownership()
        now = self._now_ms()
        if now - self._last_abort_check >= self.config.abort_interval_ms:
            self._last_abort_check = now
            await self.abort_timed_out()
        if now - self._last_expiration >= self.config.expiration_interval_ms:
            self._last_expiration = now
            await self.expire_ids()

    async def abort_timed_out(self) -> int:
        """Aborts (with a bumped epoch, fencing the producer) every transaction open longer than
        its timeout. Returns how many."""
        now = self._now_ms()
        n = 0
        for meta in list(self._txns.values()):
            if meta.state is TxnStatus.ONGOING and not meta.busy and meta.start_ms >= 0 and now - meta.start_ms > meta.timeout_ms:
                logger.info("transaction of %r (producer %d epoch %d) timed out after %d ms: aborting it",
                            meta.transactional_id, meta.producer_id, meta.producer_epoch, now - meta.start_ms)
                if await self._prepare_end(meta, commit=False, epoch=min(meta.producer_epoch + 1, MAX_EPOCH - 1)) == ErrorCode.NONE:
                    n += 1
        return n

    async def expire_ids(self) -> int:
        """Removes (with a tombstone) the transactional ids idle longer than transactional.id.expiration.ms."""
        now = self._now_ms()
        n = 0
        for tid, meta in list(self._txns.items()):
            if meta.state in _IDLE and not meta.busy and now - meta.last_update_ms > self.config.id_expiration_ms:
                meta.pending = TxnStatus.DEAD
                try:
                    err = await self._persist(meta, None)
                finally:
                    meta.pending = None
                if err == ErrorCode.NONE and self._txns.get(tid) is meta:
                    del self._txns[tid]
                    n += 1
                    logger.info("transactional id %r expired", tid)
        return n
