"""`Consumer`: reads the partitions of a data directory's topics, kafka-python style.

Positions: each assigned partition has a *fetch position* (the next offset to
read from the log). Records fetched by the iterator but not yet yielded stay in
a buffer; the *consumed position* of a partition (what `position` reports and
`commit` stores) is the offset of its first buffered record, else its fetch
position. So a commit never covers a record the application has not seen.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from pystream.client.types import ConsumerRecord, TopicPartition
from pystream.coordinator.offsets import OffsetAndMetadata, OffsetStore
from pystream.errors import ClientClosedError, LogClosedError, NoOffsetForPartitionError, OffsetOutOfRangeError, UnknownTopicError
from pystream.storage.log import Log
from pystream.storage.manager import LogManager

__all__ = ["Consumer"]

Deserializer = Callable[[bytes], Any]
_RESET_POLICIES = ("earliest", "latest", "none")


class Consumer:
    """Consumes every partition of some topics (a subscription) or given partitions (an assignment).

    Config (kafka-python's names): ``group`` (group id: committed offsets are
    stored under it), ``auto_offset_reset`` ("earliest", "latest", "none"),
    ``consumer_timeout_ms`` (iteration stops after this long without records;
    None = iterate forever), ``max_poll_records`` (500), ``enable_auto_commit``
    (True: with a group, consumed positions are committed every
    ``auto_commit_interval_ms`` (5000) during poll and on close),
    ``key_deserializer`` / ``value_deserializer``.
    """

    def __init__(
        self,
        store: LogManager,
        topics: str | Iterable[str | TopicPartition],
        *,
        group: str | None = None,
        offsets: OffsetStore | None = None,
        auto_offset_reset: str = "earliest",
        consumer_timeout_ms: float | None = None,
        max_poll_records: int = 500,
        enable_auto_commit: bool = True,
        auto_commit_interval_ms: int = 5000,
        key_deserializer: Deserializer | None = None,
        value_deserializer: Deserializer | None = None,
    ) -> None:
        if auto_offset_reset not in _RESET_POLICIES:
            raise ValueError(f"auto_offset_reset must be one of {', '.join(_RESET_POLICIES)}, got {auto_offset_reset!r}")
        if group is not None and (not isinstance(group, str) or not group):
            raise ValueError(f"group must be a non-empty str or None, got {group!r}")
        if group is not None and offsets is None:
            raise ValueError("a consumer with a group needs the store of committed offsets")
        if max_poll_records < 1:
            raise ValueError(f"max_poll_records must be >= 1, got {max_poll_records}")
        self._store = store
        self._offsets = offsets
        self.group = group
        self.auto_offset_reset = auto_offset_reset
        self.consumer_timeout_ms = None if consumer_timeout_ms == float("inf") else consumer_timeout_ms
        self.max_poll_records = max_poll_records
        self.enable_auto_commit = enable_auto_commit and group is not None
        self.auto_commit_interval_ms = auto_commit_interval_ms
        self._key_deserializer = key_deserializer
        self._value_deserializer = value_deserializer

        items = [topics] if isinstance(topics, str) else list(topics)
        self._topics: list[str] = []  # subscribed topics (all their partitions)
        self._manual: list[TopicPartition] = []  # explicitly assigned partitions
        for item in items:
            if isinstance(item, TopicPartition):
                store.partition_log(item.topic, item.partition)  # raises for unknown topics/partitions
                self._manual.append(item)
            elif isinstance(item, str):
                store.partition_count(item, create=True)  # auto-created like a producer would
                if item not in self._topics:
                    self._topics.append(item)
            else:
                raise TypeError(f"topics must be names or TopicPartitions, got {item!r}")
        if not items:
            raise ValueError("a consumer needs at least one topic or partition")

        # Invariant: keys of _positions == the current assignment; None = not yet initialised.
        self._positions: dict[TopicPartition, int | None] = {}
        self._seen_metadata = -1
        self._buffer: deque[ConsumerRecord] = deque()  # fetched by the iterator, not yet yielded
        self._rr = 0  # round-robin start among assigned partitions
        self._last_committed: dict[TopicPartition, int] = {}
        self._next_auto_commit = time.monotonic() + auto_commit_interval_ms / 1000
        self._closed = False
        self._refresh_assignment()

    # --- assignment ---

    def _refresh_assignment(self) -> None:
        """Follows topic creation/deletion and partition growth in the store."""
        version = self._store.metadata_version
        if version == self._seen_metadata:
            return
        self._seen_metadata = version
        existing = self._store.list_topics(include_internal=True)
        wanted = [TopicPartition(t, p) for t in self._topics if t in existing for p in range(existing[t])]
        wanted += [tp for tp in self._manual if tp.partition < existing.get(tp.topic, 0) and tp not in wanted]
        self._positions = {tp: self._positions.get(tp) for tp in wanted}
        if self._buffer:
            self._buffer = deque(r for r in self._buffer if (r.topic, r.partition) in self._positions)

    def assignment(self) -> set[TopicPartition]:
        """The partitions this consumer reads."""
        self._check_open()
        self._refresh_assignment()
        return set(self._positions)

    def subscription(self) -> set[str]:
        return set(self._topics)

    # --- positions ---

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("consumer is closed")
        if self._store.closed:
            raise ClientClosedError(f"store {self._store.data_dir} is closed")

    def _check_assigned(self, tp: TopicPartition) -> TopicPartition:
        self._refresh_assignment()
        tp = TopicPartition(*tp)
        if tp not in self._positions:
            raise ValueError(f"{tp.topic}-{tp.partition} is not assigned to this consumer")
        return tp

    def _reset(self, tp: TopicPartition, log: Log, why: str) -> int:
        if self.auto_offset_reset == "earliest":
            pos = log.start_offset
        elif self.auto_offset_reset == "latest":
            pos = log.end_offset
        elif why == "no committed offset":
            raise NoOffsetForPartitionError(f"{tp.topic}-{tp.partition}: no committed offset and auto_offset_reset='none'")
        else:
            raise OffsetOutOfRangeError(f"{tp.topic}-{tp.partition}: {why} and auto_offset_reset='none'")
        self._positions[tp] = pos
        return pos

    def _fetch_position(self, tp: TopicPartition, log: Log) -> int:
        """The next offset to read of `tp`, initialised from the committed offset or the reset policy."""
        pos = self._positions.get(tp)
        if pos is None:
            committed = self._committed_offset(tp)
            if committed is None:
                return self._reset(tp, log, "no committed offset")
            pos = self._positions[tp] = committed
        if pos < log.start_offset or pos > log.end_offset:
            return self._reset(tp, log, f"offset {pos} is outside [{log.start_offset}, {log.end_offset}]")
        return pos

    def position(self, tp: TopicPartition) -> int:
        """The offset of the next record the application will get from `tp`."""
        self._check_open()
        tp = self._check_assigned(tp)
        for r in self._buffer:
            if r.topic == tp.topic and r.partition == tp.partition:
                return r.offset
        return self._fetch_position(tp, self._store.partition_log(*tp))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        """The next record of `tp` will be the one at `offset` (reset per policy if out of range)."""
        self._check_open()
        tp = self._check_assigned(tp)
        if not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset must be an int >= 0, got {offset!r}")
        self._drop_buffered(tp)
        self._positions[tp] = offset

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        """Moves to the log start offset of the given partitions (default: all assigned)."""
        self._seek_to(partitions, lambda log: log.start_offset)

    def seek_to_end(self, *partitions: TopicPartition) -> None:
        """Moves to the log end offset of the given partitions (default: all assigned)."""
        self._seek_to(partitions, lambda log: log.end_offset)

    def _seek_to(self, partitions: tuple[TopicPartition, ...], where: Callable[[Log], int]) -> None:
        self._check_open()
        self._refresh_assignment()
        for tp in [self._check_assigned(tp) for tp in partitions] or list(self._positions):
            self._drop_buffered(tp)
            self._positions[tp] = where(self._store.partition_log(*tp))

    def _drop_buffered(self, tp: TopicPartition) -> None:
        if self._buffer:
            self._buffer = deque(r for r in self._buffer if (r.topic, r.partition) != tp)

    def beginning_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return {TopicPartition(*tp): self._store.partition_log(*tp).start_offset for tp in partitions}

    def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return {TopicPartition(*tp): self._store.partition_log(*tp).end_offset for tp in partitions}

    # --- fetching ---

    def _convert(self, tp: TopicPartition, rec: Any) -> ConsumerRecord:
        key, value = rec.key, rec.value
        if self._key_deserializer is not None and key is not None:
            key = self._key_deserializer(key)
        if self._value_deserializer is not None and value is not None:
            value = self._value_deserializer(value)
        return ConsumerRecord(tp.topic, tp.partition, rec.offset, rec.timestamp, key, value, list(rec.headers))

    def _fetch(self, max_records: int) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Reads up to `max_records` from the assigned partitions, starting one further each call."""
        self._refresh_assignment()
        tps = list(self._positions)
        if not tps:
            return {}
        start = self._rr % len(tps)
        self._rr = start + 1
        out: dict[TopicPartition, list[ConsumerRecord]] = {}
        remaining = max_records
        for tp in tps[start:] + tps[:start]:
            if remaining <= 0:
                break
            if self._buffer and any(r.topic == tp.topic and r.partition == tp.partition for r in self._buffer):
                continue  # its fetch position is past unyielded records
            try:
                log = self._store.partition_log(*tp)
                pos = self._fetch_position(tp, log)
                if pos >= log.end_offset:
                    continue
                recs = log.records(pos, max_records=remaining)
            except (UnknownTopicError, LogClosedError):  # deleted meanwhile: dropped at the next refresh
                continue
            except OffsetOutOfRangeError:  # retention removed `pos` between the check and the read
                self._reset(tp, log, f"offset {pos} was deleted")
                continue
            if not recs:
                # Only control batches (transaction markers) at `pos`: step past them.
                batches = log.scan_batches(pos, 1)
                if batches:
                    self._positions[tp] = batches[0][1] + 1
                continue
            out[tp] = [self._convert(tp, r) for r in recs]
            self._positions[tp] = recs[-1].offset + 1
            remaining -= len(recs)
        return out

    def _poll(self, timeout_s: float | None, max_records: int) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Fetches, waiting on the store's condition (no busy loop) until records arrive or `timeout_s` passes."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            self._check_open()
            seq = self._store.data_seq  # read before fetching: a later append changes it (no lost wake-up)
            got = self._fetch(max_records)
            if got:
                return got
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return {}
            self._store.wait_for_change(seq, left)

    def poll(self, timeout_ms: float = 0, max_records: int | None = None) -> dict[TopicPartition, list[ConsumerRecord]]:
        """Records by partition, waiting up to `timeout_ms` for some to arrive; {} on timeout."""
        self._check_open()
        self._maybe_auto_commit()
        n = self.max_poll_records if max_records is None else max_records
        if n < 1:
            raise ValueError(f"max_records must be >= 1, got {n}")
        if self._buffer:  # records the iterator fetched: hand them over first
            out: dict[TopicPartition, list[ConsumerRecord]] = {}
            while self._buffer and n > 0:
                r = self._buffer.popleft()
                out.setdefault(TopicPartition(r.topic, r.partition), []).append(r)
                n -= 1
            return out
        return self._poll(max(0.0, timeout_ms / 1000), n)

    def __iter__(self) -> Iterator[ConsumerRecord]:
        return self

    def __next__(self) -> ConsumerRecord:
        """The next record; StopIteration after consumer_timeout_ms without records (never when None)."""
        if not self._buffer:
            self._check_open()
            self._maybe_auto_commit()
            timeout = None if self.consumer_timeout_ms is None else self.consumer_timeout_ms / 1000
            got = self._poll(timeout, self.max_poll_records)
            if not got:
                raise StopIteration
            for recs in got.values():
                self._buffer.extend(recs)
        return self._buffer.popleft()

    # --- committed offsets ---

    def _require_group(self) -> str:
        if self.group is None:
            raise ValueError("committed offsets need a consumer group: pass group=... to store.consumer()")
        return self.group

    def _committed_offset(self, tp: TopicPartition) -> int | None:
        if self.group is None:
            return None
        om = self._offsets.fetch(self.group, tp.topic).get((tp.topic, tp.partition))
        return None if om is None else om.offset

    def _consumed_positions(self) -> dict[TopicPartition, int]:
        """Consumed position of every partition with an initialised position."""
        out = {tp: pos for tp, pos in self._positions.items() if pos is not None}
        for r in reversed(self._buffer):  # the first buffered record of a partition wins
            out[TopicPartition(r.topic, r.partition)] = r.offset
        return out

    def commit(self, offsets: Mapping[TopicPartition, int | OffsetAndMetadata] | None = None) -> None:
        """Commits `offsets` (default: the consumed positions) for the group; durable on return."""
        self._check_open()
        group = self._require_group()
        if offsets is None:
            todo: dict[TopicPartition, int | OffsetAndMetadata] = dict(self._consumed_positions())
        else:
            todo = {TopicPartition(*tp): o for tp, o in offsets.items()}
        if not todo:
            return
        self._offsets.commit(group, {(tp.topic, tp.partition): o for tp, o in todo.items()})
        for tp, o in todo.items():
            self._last_committed[tp] = o.offset if isinstance(o, OffsetAndMetadata) else o

    def committed(self, tp: TopicPartition) -> int | None:
        """The group's committed offset of `tp`, or None."""
        self._check_open()
        self._require_group()
        return self._committed_offset(TopicPartition(*tp))

    def _maybe_auto_commit(self, force: bool = False) -> None:
        if not self.enable_auto_commit or (not force and time.monotonic() < self._next_auto_commit):
            return
        self._next_auto_commit = time.monotonic() + self.auto_commit_interval_ms / 1000
        changed = {tp: o for tp, o in self._consumed_positions().items() if self._last_committed.get(tp) != o}
        if changed:
            self.commit(changed)

    # --- lifecycle ---

    def close(self, autocommit: bool = True) -> None:
        """Commits consumed positions (with a group and enable_auto_commit) and closes. Idempotent."""
        if self._closed:
            return
        try:
            if autocommit and not self._store.closed:
                self._maybe_auto_commit(force=True)
        finally:
            self._closed = True
            self._buffer.clear()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
