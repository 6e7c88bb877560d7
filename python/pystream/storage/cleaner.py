"""Log compaction: Kafka's log cleaner (its ``LogCleanerManager`` and cleaner threads).

The heavy part — reading the log, the key -> offset map, rewriting and swapping
segments — is Rust (`PartitionLog.clean`, rust/src/cleaner.rs) and runs with the
GIL released, so cleaning never holds the broker's event loop. This module
decides what to clean and when, as Kafka's does:

- the logs of topics whose ``cleanup.policy`` contains ``compact``, among the
  logs open (Kafka opens every log at start; here a log is opened on first use,
  and one not used since has nothing new to clean; `compact` opens them all);
- the *filthiest* first: the largest dirty ratio (bytes of the dirty section
  over bytes below the first uncleanable offset) above the topic's
  ``min.cleanable.dirty.ratio``, or any log with dirty bytes older than its
  ``max.compaction.lag.ms``; when none is due, a log whose kept tombstones or
  transaction markers passed their delete horizon (so they are removed even
  when nothing new is written);
- ``log.cleaner.threads`` threads, each with ``log.cleaner.dedupe.buffer.size /
  log.cleaner.threads`` bytes of offset map, sleeping ``log.cleaner.backoff.ms``
  when nothing is due; ``log.cleaner.io.max.bytes.per.second`` throttles them all;
- progress in ``cleaner-offset-checkpoint`` in the data directory (Kafka's file
  and format: ``0``, the entry count, then ``topic partition offset`` lines):
  the first dirty offset of each log, written atomically after every round.

A log whose cleaning fails (a corrupt batch, an I/O error) is logged and left
alone until the process restarts (Kafka marks it uncleanable).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pystream.errors import ClientClosedError, LogClosedError, PystreamError, UnknownTopicError
from pystream.storage.log import Log
from pystream.storage.offset_checkpoint import read_offset_checkpoint, write_offset_checkpoint

logger = logging.getLogger("pystream.storage.cleaner")

__all__ = ["CHECKPOINT_FILE", "CleanResult", "CleanerConfig", "LogCleaner", "read_checkpoint"]

CHECKPOINT_FILE = "cleaner-offset-checkpoint"
LONG_MAX = 2**63 - 1

# (topic, partition) -> the last offset the partition may be cleaned up to (its last stable
# offset), or None when it is unknown and the partition must not be cleaned now.
UpperBound = Callable[[str, int], "int | None"]
TopicPartition = tuple[str, int]


class Logs(Protocol):
    """What the cleaner needs of a data directory (`LogManager` provides it)."""

    data_dir: Path

    def list_topics(self, include_internal: bool = False) -> dict[str, int]: ...
    def topic_config(self, topic: str) -> dict[str, Any]: ...
    def is_compacted(self, topic: str) -> bool: ...
    def topic_partition_count(self, name: str) -> int | None: ...
    def partition_log(self, topic: str, partition: int) -> Log: ...
    def open_logs(self) -> list[tuple[str, int, Log]]: ...


@dataclass(frozen=True)
class CleanerConfig:
    """The broker's ``log.cleaner.*`` settings (Kafka's names and defaults); the
    last four are the defaults of the topic configs min.cleanable.dirty.ratio,
    delete.retention.ms, min.compaction.lag.ms and max.compaction.lag.ms."""

    enable: bool = True  # log.cleaner.enable
    threads: int = 1  # log.cleaner.threads
    dedupe_buffer_size: int = 128 * 1024 * 1024  # log.cleaner.dedupe.buffer.size
    io_buffer_load_factor: float = 0.9  # log.cleaner.io.buffer.load.factor
    io_max_bytes_per_second: float = math.inf  # log.cleaner.io.max.bytes.per.second
    backoff_ms: int = 15_000  # log.cleaner.backoff.ms
    producer_id_expiration_ms: int = 86_400_000  # producer.id.expiration.ms
    min_cleanable_ratio: float = 0.5  # log.cleaner.min.cleanable.ratio
    delete_retention_ms: int = 86_400_000  # log.cleaner.delete.retention.ms
    min_compaction_lag_ms: int = 0  # log.cleaner.min.compaction.lag.ms
    max_compaction_lag_ms: int = LONG_MAX  # log.cleaner.max.compaction.lag.ms

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"log.cleaner.threads must be >= 1, got {self.threads}")
        if self.dedupe_buffer_size // self.threads < 1024:
            raise ValueError(f"log.cleaner.dedupe.buffer.size={self.dedupe_buffer_size} is too small for {self.threads} thread(s)")
        if not 0 < self.io_buffer_load_factor < 1:
            raise ValueError(f"log.cleaner.io.buffer.load.factor must be in (0, 1), got {self.io_buffer_load_factor}")
        if self.io_max_bytes_per_second <= 0:
            raise ValueError(f"log.cleaner.io.max.bytes.per.second must be positive, got {self.io_max_bytes_per_second}")


@dataclass(frozen=True)
class CleanResult:
    """One cleaning round of one partition (Kafka's CleanerStats)."""

    topic: str
    partition: int
    first_dirty: int
    end_offset: int  # the new checkpoint: where the next round's dirty section starts
    bytes_read: int
    bytes_written: int
    records_read: int
    records_written: int
    map_keys: int
    buffer_utilization: float
    segments_before: int
    segments_after: int
    groups_swapped: int
    next_delete_horizon: int | None  # when the earliest kept tombstone or marker may go
    aborted: bool
    elapsed_s: float
    map_elapsed_s: float
    size_before: int
    size_after: int


def read_checkpoint(path: Path) -> dict[TopicPartition, int]:
    """The cleaner's progress per log (Kafka's cleaner-offset-checkpoint)."""
    return read_offset_checkpoint(path, "every compacted log is dirty from its start")


@dataclass
class _Candidate:
    topic: str
    partition: int
    log: Log
    ratio: float
    cleanable_bytes: int
    due: bool


@dataclass
class _State:
    """What the cleaner remembers between rounds; guarded by `LogCleaner._lock`."""

    checkpoints: dict[TopicPartition, int]
    in_progress: set[TopicPartition] = field(default_factory=set)
    horizons: dict[TopicPartition, int] = field(default_factory=dict)  # next delete horizon
    uncleanable: dict[TopicPartition, str] = field(default_factory=dict)


class LogCleaner:
    """Compacts the compacted topics of a data directory (a `LogManager`; see the module doc).

    `start` runs ``config.threads`` background threads; `compact` cleans on demand.
    ``upper_bound(topic, partition)`` gives the offset a partition may be cleaned up to
    (the broker: its last stable offset, below the high watermark); by default, the end
    of the log. Thread-safe.
    """

    def __init__(self, manager: Logs, config: CleanerConfig | None = None, upper_bound: UpperBound | None = None) -> None:
        self.manager = manager
        self.config = config or CleanerConfig()
        self.upper_bound = upper_bound
        self._path = manager.data_dir / CHECKPOINT_FILE
        self._lock = threading.Condition()  # guards _state; notified when a cleaning ends
        self._state = _State(read_checkpoint(self._path))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.results: deque[CleanResult] = deque(maxlen=64)  # the latest rounds, newest last

    # --- lifecycle ---

    def start(self) -> None:
        """Starts the cleaner threads (idempotent)."""
        if self._threads:
            return
        self._stop.clear()
        for i in range(self.config.threads):
            t = threading.Thread(target=self._run, name=f"log-cleaner-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stops the threads; a cleaning in progress is aborted (what it swapped in stays)."""
        self._stop.set()
        self._abort_where(lambda tp: True)
        for t in self._threads:
            t.join(timeout_s)
        self._threads.clear()

    @property
    def running(self) -> bool:
        return bool(self._threads)

    def _run(self) -> None:
        backoff = self.config.backoff_ms / 1000
        while not self._stop.is_set():
            try:
                result = self.clean_filthiest()
            except (ClientClosedError, LogClosedError):
                return
            except Exception:  # a bug: log it and keep cleaning the other logs
                logger.exception("log cleaner round failed")
                result = None
            if result is None:
                self._stop.wait(backoff)

    # --- choosing a log (LogCleanerManager.grabFilthiestCompactedLog) ---

    def _topic_setting(self, cfg: dict[str, Any], key: str, default: Any) -> Any:
        v = cfg.get(key)
        return default if v is None else v

    def _compacted_partitions(self, topics: Iterable[str] | None = None) -> list[tuple[str, int, dict[str, Any]]]:
        m = self.manager
        names = list(topics) if topics is not None else list(m.list_topics(include_internal=True))
        out = []
        for t in names:
            try:
                cfg = m.topic_config(t)  # the topic's own overrides: the rest comes from our config
                n = m.topic_partition_count(t)
            except UnknownTopicError:
                continue
            if n is not None and m.is_compacted(t):
                out.extend((t, p, cfg) for p in range(n))
        return out

    def _section(self, topic: str, p: int, log: Log, cfg: dict[str, Any], now: int) -> tuple[int, int, int, int, int] | None:
        """The log's dirty section, or None when its upper bound is unknown."""
        bound = None
        if self.upper_bound is not None:
            bound = self.upper_bound(topic, p)
            if bound is None:
                return None
        with self._lock:
            ckpt = self._state.checkpoints.get((topic, p), log.start_offset)
        c = self.config
        return log.cleanable_section(
            ckpt,
            upper_bound=bound,
            now_ms=now,
            min_compaction_lag_ms=int(self._topic_setting(cfg, "min.compaction.lag.ms", c.min_compaction_lag_ms)),
            max_compaction_lag_ms=int(self._topic_setting(cfg, "max.compaction.lag.ms", c.max_compaction_lag_ms)),
        )

    def _candidates(self, now: int) -> list[_Candidate]:
        """The compacted logs open so far (the background threads do not open logs: a log not
        used since the start has nothing new to clean; `compact` opens them all)."""
        out = []
        m = self.manager
        for topic, p, log in m.open_logs():
            with self._lock:
                if (topic, p) in self._state.in_progress or (topic, p) in self._state.uncleanable:
                    continue
            try:
                if not m.is_compacted(topic):
                    continue
                cfg = m.topic_config(topic)
                section = self._section(topic, p, log, cfg, now)
            except (PystreamError, OSError):
                continue  # deleted or closed meanwhile
            if section is None:
                continue
            _first_dirty, _first_unclean, clean_b, cleanable_b, delay_ms = section
            total = clean_b + cleanable_b
            ratio = cleanable_b / total if total else 0.0
            min_ratio = float(self._topic_setting(cfg, "min.cleanable.dirty.ratio", self.config.min_cleanable_ratio))
            due = (delay_ms > 0 and cleanable_b > 0) or (cleanable_b > 0 and ratio > min_ratio)
            out.append(_Candidate(topic, p, log, ratio, cleanable_b, due))
        return out

    def _grab(self, now: int) -> _Candidate | None:
        """The filthiest due log, marked in progress; else one whose delete horizon passed."""
        candidates = self._candidates(now)
        due = [c for c in candidates if c.due]
        with self._lock:
            pick = max(due, key=lambda c: c.ratio) if due else None
            if pick is None:
                swept = [c for c in candidates if self._state.horizons.get((c.topic, c.partition), LONG_MAX) <= now]
                pick = swept[0] if swept else None
            if pick is None or (pick.topic, pick.partition) in self._state.in_progress:
                return None
            self._state.in_progress.add((pick.topic, pick.partition))
            return pick

    # --- cleaning ---

    def clean_filthiest(self, now_ms: int | None = None) -> CleanResult | None:
        """Cleans the log most in need of it, if any is due (one round); None when none is."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        pick = self._grab(now)
        if pick is None:
            return None
        return self._clean_marked(pick.topic, pick.partition, pick.log, now)

    def compact(self, topics: str | Iterable[str] | None = None, now_ms: int | None = None) -> list[CleanResult]:
        """Cleans every partition of the compacted `topics` (default: all) as far as it can
        now, whatever their dirty ratio: rounds run until the dirty section is consumed
        (several when the offset map fills up). Tombstones and markers past their delete
        horizon go too. Errors are raised. Returns the rounds."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        names = [topics] if isinstance(topics, str) else topics
        results = []
        for topic, p, _cfg in self._compacted_partitions(names):
            log = self.manager.partition_log(topic, p)
            for _ in range(1_000):  # bounded: each round moves the checkpoint or stops
                with self._lock:
                    while (topic, p) in self._state.in_progress:  # a background round: wait for it
                        self._lock.wait()
                    self._state.in_progress.add((topic, p))
                    before = self._state.checkpoints.get((topic, p), log.start_offset)
                r = self._clean_marked(topic, p, log, now, raise_errors=True)
                if r is None:
                    break
                results.append(r)
                if r.aborted or r.end_offset <= max(before, r.first_dirty):
                    break
        return results

    def _clean_marked(self, topic: str, p: int, log: Log, now: int, raise_errors: bool = False) -> CleanResult | None:
        """One round of a log already marked in progress (the mark is removed)."""
        key = (topic, p)
        try:
            cfg = self.manager.topic_config(topic)
            section = self._section(topic, p, log, cfg, now)
            if section is None:
                self._done(key, None)
                return None
            c = self.config
            size_before = log.size_bytes
            stats = log.clean(
                section[0],
                upper_bound=section[1],
                now_ms=now,
                min_compaction_lag_ms=int(self._topic_setting(cfg, "min.compaction.lag.ms", c.min_compaction_lag_ms)),
                delete_retention_ms=int(self._topic_setting(cfg, "delete.retention.ms", c.delete_retention_ms)),
                producer_expiration_ms=c.producer_id_expiration_ms,
                dedupe_buffer_bytes=c.dedupe_buffer_size // c.threads,
                load_factor=c.io_buffer_load_factor,
                io_max_bytes_per_sec=c.io_max_bytes_per_second,
            )
            result = CleanResult(topic=topic, partition=p, size_before=size_before, size_after=log.size_bytes,
                                 **{k: stats[k] for k in _STAT_KEYS})
        except (UnknownTopicError, LogClosedError, ClientClosedError):
            self._done(key, None)
            if raise_errors:
                raise
            return None
        except Exception as e:
            self._done(key, None, failure=f"{type(e).__name__}: {e}")
            if raise_errors:
                raise
            logger.error("cleaning %s-%d failed; it is not cleaned again until restart: %s", topic, p, e)
            return None
        self._done(key, result)
        self.results.append(result)
        _log_result(result)
        return result

    def _done(self, key: TopicPartition, result: CleanResult | None, failure: str | None = None) -> None:
        if self.manager.topic_partition_count(key[0]) is None:  # deleted meanwhile: nothing to remember
            result = failure = None
        with self._lock:
            self._state.in_progress.discard(key)
            if failure is not None:
                self._state.uncleanable[key] = failure
            if result is not None and not result.aborted:
                st = self._state
                if st.checkpoints.get(key) != result.end_offset:
                    st.checkpoints[key] = result.end_offset
                    self._write_checkpoint()
                if result.next_delete_horizon is None:
                    st.horizons.pop(key, None)
                else:
                    st.horizons[key] = result.next_delete_horizon
            self._lock.notify_all()

    def _write_checkpoint(self) -> None:
        try:
            write_offset_checkpoint(self._path, self._state.checkpoints)
        except OSError as e:  # progress is only an optimisation: the next round redoes the work
            logger.warning("cannot write %s: %s", self._path, e)

    # --- topics going away ---

    def _abort_where(self, match: Callable[[TopicPartition], bool]) -> list[TopicPartition]:
        with self._lock:
            running = [tp for tp in self._state.in_progress if match(tp)]
        for topic, p in running:
            try:
                self.manager.partition_log(topic, p).abort_cleaning()
            except (UnknownTopicError, LogClosedError, ClientClosedError):
                pass
        return running

    def forget_topics(self, topics: Iterable[str], timeout_s: float = 30.0) -> None:
        """Aborts the cleaning of these topics' partitions, waits for it to end and drops
        their checkpoints (the manager calls this before deleting topics)."""
        names = set(topics)
        self._abort_where(lambda tp: tp[0] in names)
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while any(tp[0] in names for tp in self._state.in_progress):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            st = self._state
            gone = [tp for tp in st.checkpoints if tp[0] in names]
            for tp in gone:
                del st.checkpoints[tp]
            for d in (st.horizons, st.uncleanable):
                for tp in [tp for tp in d if tp[0] in names]:
                    del d[tp]
            if gone:
                self._write_checkpoint()

    def checkpoints(self) -> dict[TopicPartition, int]:
        """The first dirty offset of each log cleaned so far."""
        with self._lock:
            return dict(self._state.checkpoints)

    def uncleanable(self) -> dict[TopicPartition, str]:
        """Logs left alone after a failed cleaning, with the error."""
        with self._lock:
            return dict(self._state.uncleanable)


_STAT_KEYS = ("first_dirty", "end_offset", "bytes_read", "bytes_written", "records_read", "records_written", "map_keys",
              "buffer_utilization", "segments_before", "segments_after", "groups_swapped", "next_delete_horizon", "aborted",
              "elapsed_s", "map_elapsed_s")


def _log_result(r: CleanResult) -> None:
    mb = 1024 * 1024
    logger.info(
        "cleaned %s-%d (dirty section [%d, %d)%s): %.1f MB read in %.2f s (%.1f MB/s), %d keys mapped (%.0f%% of the "
        "buffer), %.1f MB -> %.1f MB, %d -> %d records, %d -> %d segments",
        r.topic, r.partition, r.first_dirty, r.end_offset, ", aborted" if r.aborted else "", r.bytes_read / mb, r.elapsed_s,
        r.bytes_read / mb / max(r.elapsed_s, 1e-9), r.map_keys, 100 * r.buffer_utilization, r.size_before / mb,
        r.size_after / mb, r.records_read, r.records_written, r.segments_before, r.segments_after,
    )
