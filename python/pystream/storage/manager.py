"""`LogManager`: the topics and partition logs of one data directory (Kafka's LogManager).

It knows directories, topics, partitions, per-topic config, retention and the
flush policy, and the directory lock; nothing of producers, consumers or
groups. The broker (`pystream.server`) and the embedded client
(`pystream.client.Store`) are both built on it.

Layout (Kafka's, so a broker can serve the same directory later)::

    <data_dir>/.lock                  flock held by the one process that has the directory open
    <data_dir>/topics.json            topic metadata: partition counts and config overrides
    <data_dir>/<topic>-<partition>/   one partition log (see docs/storage.md)

``topics.json`` is replaced atomically (temp file, fsync, rename, fsync of the
directory); it is the commit point of topic creation and deletion: partition
directories are created before a topic is recorded and removed after it is
forgotten, so a crash leaves at worst stray directories, which a later
`create_topic` of the same name clears.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from pystream.errors import ClientClosedError, LogDirectoryError, TopicExistsError, UnknownPartitionError, UnknownTopicError
from pystream.storage.log import Log
from pystream.storage.topic_config import (
    DEFAULT_MAX_MESSAGE_BYTES,
    LOG_KWARGS,
    TOPIC_CONFIG_KEYS,
    is_internal_topic,
    log_kwargs,
    normalize_topic_config,
    validate_topic_name,
)

logger = logging.getLogger("pystream.storage")

__all__ = ["LogManager", "TopicDescription"]

METADATA_FILE = "topics.json"
LOCK_FILE = ".lock"
METADATA_VERSION = 1


class TopicDescription(NamedTuple):
    """A topic's metadata: partition count and its Kafka-named config overrides."""

    name: str
    partitions: int
    config: dict[str, int | str | None]
    internal: bool


class _TopicMeta:
    """One topic's persisted metadata."""

    __slots__ = ("config", "partitions", "topic_id")

    def __init__(self, partitions: int, config: dict[str, int | str | None], topic_id: uuid.UUID | None = None) -> None:
        self.partitions = partitions
        self.config = config
        # Kafka's topic id: new for every topic created, even under a reused name.
        self.topic_id = topic_id or uuid.uuid4()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Closing a log waits on several fsyncs; thousands of them overlap well in threads (the Rust
# core releases the GIL): 10,000 partitions close in seconds instead of minutes.
_IO_THREADS = 32


def _each_in_parallel(fn: Any, logs: list[Log]) -> list[BaseException]:
    """Calls `fn(log)` for every log, in threads when there are many; the exceptions raised
    (every log is attempted whatever the others do)."""

    def attempt(log: Log) -> BaseException | None:
        try:
            fn(log)
            return None
        except Exception as e:
            return e

    if len(logs) < 4:
        results = [attempt(log) for log in logs]
    else:
        with ThreadPoolExecutor(min(_IO_THREADS, len(logs)), thread_name_prefix="log-io") as pool:
            results = list(pool.map(attempt, logs))
    return [e for e in results if e is not None]


class LogManager:
    """Topics and their partition logs in one data directory.

    Lock order: callers may hold their own locks (an `OffsetStore`'s, to open an
    offsets partition) while taking the manager's lock, never the other way round.

    ``log_defaults`` are `Log.open` keywords (``segment_bytes``, ``retention_ms``,
    ``batch_size``, ...) applied to every partition; a topic's config (Kafka names)
    overrides them. Thread-safe: producers and consumers may run in other threads.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        auto_create_topics: bool = True,
        num_partitions: int = 1,
        **log_defaults: Any,
    ) -> None:
        unknown = sorted(set(log_defaults) - LOG_KWARGS)
        if unknown:
            raise ValueError(f"unknown log setting {unknown[0]!r}; supported: {', '.join(sorted(LOG_KWARGS))}")
        if num_partitions < 1:
            raise ValueError("num_partitions must be >= 1")
        self.data_dir = Path(data_dir)
        self.auto_create_topics = auto_create_topics
        self.num_partitions = num_partitions
        self.log_defaults: dict[str, Any] = dict(log_defaults)
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LogDirectoryError(f"cannot create data directory {self.data_dir}: {e}") from e
        self._lock_fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise LogDirectoryError(f"data directory {self.data_dir} is in use by another process (lock {LOCK_FILE} is held)") from None
        self._lock = threading.RLock()  # guards _topics, _logs, _closed
        self._closed = False
        self._logs: dict[tuple[str, int], Log] = {}
        # Invariant: _data_seq grows on every append and metadata change; consumers wait on
        # _data_cond until it differs from the value they saw before reading (no lost wake-up).
        self._data_cond = threading.Condition(threading.Lock())
        self._data_seq = 0
        self.metadata_version = 0  # bumped on every topic create/delete/partition change
        try:
            self._topics = self._load_metadata()
        except BaseException:
            self._release_lock()
            raise

    # --- metadata persistence ---

    def _load_metadata(self) -> dict[str, _TopicMeta]:
        path = self.data_dir / METADATA_FILE
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise LogDirectoryError(f"cannot read topic metadata {path}: {e}") from e
        try:
            return {
                name: _TopicMeta(int(t["partitions"]), dict(t.get("config", {})), uuid.UUID(t["id"]) if "id" in t else None)
                for name, t in raw["topics"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise LogDirectoryError(f"malformed topic metadata {path}: {e!r}") from e

    def _save_metadata(self) -> None:
        data = {
            "version": METADATA_VERSION,
            "topics": {
                name: {"partitions": t.partitions, "config": t.config, "id": str(t.topic_id)} for name, t in sorted(self._topics.items())
            },
        }
        path = self.data_dir / METADATA_FILE
        tmp = path.with_name(METADATA_FILE + ".tmp")
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.data_dir)
        self.metadata_version += 1

    def _partition_dir(self, topic: str, partition: int) -> Path:
        return self.data_dir / f"{topic}-{partition}"

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError(f"data directory {self.data_dir} is closed")

    # --- topics ---

    def create_topic(self, name: str, partitions: int | None = None, config: Mapping[str, Any] | None = None) -> TopicDescription:
        """Creates a topic with `partitions` (default: num_partitions) and config overrides (Kafka names)."""
        (result,) = self.create_topics([(name, partitions, config)])
        if isinstance(result, Exception):
            raise result
        return result

    def create_topics(self, specs: Sequence[tuple[str, int | None, Mapping[str, Any] | None]]) -> list[TopicDescription | Exception]:
        """Creates several topics, ``(name, partitions, config)`` each, with one metadata write
        (the commit point of all of them). Per topic: its description, or the exception
        (ValueError, TopicExistsError) that refused it; the others are created anyway. When the
        directories or the metadata cannot be written (a full disk), none is created and each gets
        the LogDirectoryError (an OSError)."""
        results: list[TopicDescription | Exception] = []
        added: list[tuple[str, int]] = []
        with self._lock:
            self._check_open()
            try:
                self._create_topics_locked(specs, results, added)
                if added:
                    self._save_metadata()
            except OSError as e:
                # Nothing of this call is kept: the topics are forgotten and their directories removed.
                for name, n in added:
                    self._topics.pop(name, None)
                    for p in range(n):
                        shutil.rmtree(self._partition_dir(name, p), ignore_errors=True)
                error = LogDirectoryError(f"cannot create topics in {self.data_dir}: {e}")
                error.errno = e.errno
                results = [r if isinstance(r, Exception) else error for r in results]
                results += [error] * (len(specs) - len(results))
        self.notify_change()
        return results

    def _create_topics_locked(self, specs: Sequence[tuple[str, int | None, Mapping[str, Any] | None]],
                              results: list[TopicDescription | Exception], added: list[tuple[str, int]]) -> None:
        for name, partitions, config in specs:
            try:
                validate_topic_name(name)
                n = self.num_partitions if partitions is None else partitions
                if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                    raise ValueError(f"partitions must be an int >= 1, got {partitions!r}")
                cfg = normalize_topic_config(config)
                if name in self._topics:
                    raise TopicExistsError(f"topic {name!r} already exists")
            except (ValueError, TypeError) as e:
                results.append(e)
                continue
            self._topics[name] = _TopicMeta(n, cfg)
            added.append((name, n))
            self._make_partition_dirs(name, range(n))
            results.append(TopicDescription(name, n, dict(cfg), is_internal_topic(name)))

    def _make_partition_dirs(self, name: str, partitions: Iterable[int]) -> None:
        for p in partitions:
            d = self._partition_dir(name, p)
            if d.exists():  # left by a deletion interrupted by a crash: not part of any topic
                shutil.rmtree(d)
            d.mkdir()

    def topic_partition_count(self, name: str) -> int | None:
        """Partitions of topic `name`, or None when it does not exist (O(1), no lock)."""
        t = self._topics.get(name)  # dict reads are atomic
        return None if t is None else t.partitions

    def list_topics(self, include_internal: bool = False) -> dict[str, int]:
        """Topic name -> partition count (internal topics only when asked)."""
        with self._lock:
            self._check_open()
            return {n: t.partitions for n, t in sorted(self._topics.items()) if include_internal or not is_internal_topic(n)}

    def describe_topic(self, name: str) -> TopicDescription:
        with self._lock:
            self._check_open()
            t = self._topic(name)
            return TopicDescription(name, t.partitions, dict(t.config), is_internal_topic(name))

    def delete_topic(self, name: str) -> None:
        """Deletes a topic and its partition directories."""
        (error,) = self.delete_topics([name])
        if error is not None:
            raise error

    def delete_topics(self, names: Iterable[str]) -> list[UnknownTopicError | None]:
        """Deletes several topics and their partition directories with one metadata write;
        per topic None, or the UnknownTopicError when it does not exist."""
        errors: list[UnknownTopicError | None] = []
        gone: dict[str, _TopicMeta] = {}
        with self._lock:
            self._check_open()
            for name in names:
                t = self._topics.pop(name, None)
                if t is None:
                    errors.append(UnknownTopicError(f"unknown topic {name!r}"))
                    continue
                errors.append(None)
                gone[name] = t
            # The logs go away with their files: a close that cannot write its checkpoints
            # (a full disk) does not matter.
            _each_in_parallel(Log.close, [self._logs.pop(k) for k in [k for k in self._logs if k[0] in gone]])
            dirs = [self._partition_dir(name, p) for name, t in gone.items() for p in range(t.partitions)]
            if gone:
                try:
                    self._save_metadata()  # commit point: from here the topics are gone
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        self._topics.update(gone)
                        raise
                    # A full disk: free the deleted partitions' space first, then commit. A crash
                    # in between leaves the topics listed with no data (they come back empty).
                    logger.warning("disk full: deleting the data of %d topic(s) before recording their deletion", len(gone))
                    for d in dirs:
                        shutil.rmtree(d, ignore_errors=True)
                    self._save_metadata()
            for d in dirs:
                shutil.rmtree(d, ignore_errors=True)
        self.notify_change()
        return errors

    def create_partitions(self, name: str, total: int) -> None:
        """Grows a topic to `total` partitions (Kafka never shrinks one)."""
        with self._lock:
            self._check_open()
            t = self._topic(name)
            if not isinstance(total, int) or total <= t.partitions:
                raise ValueError(f"topic {name!r} has {t.partitions} partitions; the new total must be larger, got {total!r}")
            self._make_partition_dirs(name, range(t.partitions, total))
            t.partitions = total
            self._save_metadata()
        self.notify_change()

    def _topic(self, name: str) -> _TopicMeta:
        t = self._topics.get(name)
        if t is None:
            raise UnknownTopicError(f"unknown topic {name!r}")
        return t

    def partition_count(self, topic: str, *, create: bool = False) -> int:
        """Partitions of `topic`; with ``create`` an unknown topic is auto-created when auto_create_topics is on."""
        with self._lock:
            self._check_open()
            t = self._topics.get(topic)
            if t is not None:
                return t.partitions
            if not create or not self.auto_create_topics:
                raise UnknownTopicError(f"unknown topic {topic!r}" + ("" if self.auto_create_topics else " (auto_create_topics is off)"))
            validate_topic_name(topic)
            if is_internal_topic(topic):
                raise UnknownTopicError(f"internal topic {topic!r} is not auto-created")
            return self.create_topic(topic).partitions

    def topic_config(self, topic: str) -> dict[str, int | str | None]:
        with self._lock:
            return dict(self._topic(topic).config)

    def topic_id(self, topic: str) -> uuid.UUID:
        with self._lock:
            return self._topic(topic).topic_id

    def alter_topic_config(self, topic: str, changes: Mapping[str, Any]) -> None:
        """Sets (or, with a None value, removes) topic config overrides; open logs take them at once."""
        to_set = normalize_topic_config({k: v for k, v in changes.items() if v is not None})
        for key in changes:
            if key not in TOPIC_CONFIG_KEYS:
                raise ValueError(f"unknown topic config {key!r}")
        with self._lock:
            self._check_open()
            t = self._topic(topic)
            cfg = {k: v for k, v in t.config.items() if k not in changes}
            cfg.update(to_set)
            t.config = cfg
            self._save_metadata()
            for (name, _p), log in self._logs.items():
                if name == topic:
                    kwargs = log_kwargs(self.log_defaults, cfg)
                    kwargs.pop("segment_index_bytes", None)  # fixed while a segment is open
                    log.reconfigure(**{k: (-1 if v is None and k in ("flush_messages", "flush_ms") else v) for k, v in kwargs.items()})

    def max_message_bytes(self, topic: str) -> int:
        """The topic's max.message.bytes (Kafka's default when not set)."""
        with self._lock:
            v = self._topic(topic).config.get("max.message.bytes")
        return DEFAULT_MAX_MESSAGE_BYTES if v is None else int(v)

    def partition_log(self, topic: str, partition: int) -> Log:
        """The one shared `Log` of a partition, opened on first use."""
        log = self._logs.get((topic, partition))  # fast path; dict reads are atomic
        if log is not None:
            return log
        with self._lock:
            self._check_open()
            t = self._topic(topic)
            if not isinstance(partition, int) or not 0 <= partition < t.partitions:
                raise UnknownPartitionError(f"topic {topic!r} has no partition {partition!r} (it has {t.partitions})")
            log = self._logs.get((topic, partition))
            if log is None:
                log = Log.open(self._partition_dir(topic, partition), **log_kwargs(self.log_defaults, t.config))
                self._logs[(topic, partition)] = log
            return log

    def log_dirs(self) -> dict[Path, list[tuple[str, int]]]:
        """Each log directory (absolute) and the partitions (topic, index) stored in it: one
        directory today, the data directory."""
        with self._lock:
            self._check_open()
            parts = [(name, i) for name, t in sorted(self._topics.items()) for i in range(t.partitions)]
        return {self.data_dir.resolve(): parts}

    def partition_size(self, topic: str, partition: int) -> int:
        """Bytes of a partition's log segments (Kafka's `Log.size`), without opening it; 0 when it has no files."""
        log = self._logs.get((topic, partition))
        if log is not None and not log.closed:
            return log.size_bytes
        try:
            with os.scandir(self._partition_dir(topic, partition)) as it:
                return sum(e.stat().st_size for e in it if e.name.endswith(".log") and e.is_file())
        except OSError:
            return 0

    def open_logs(self) -> list[tuple[str, int, Log]]:
        """(topic, partition, log) of every partition log opened so far."""
        with self._lock:
            return [(t, p, log) for (t, p), log in self._logs.items()]

    # --- retention and the flush policy (called periodically by the owner) ---

    def enforce_retention(self) -> int:
        """Deletes the segments retention.ms / retention.bytes no longer keep, in every open log."""
        total = 0
        for topic, p, log in self.open_logs():
            deleted = log.enforce_retention()
            if deleted:
                logger.info("retention deleted %d segment(s) of %s-%d", deleted, topic, p)
            total += deleted
        return total

    def flush_due(self) -> list[tuple[str, int, Log]]:
        """fsyncs the logs whose flush.messages / flush.ms is due; returns those flushed."""
        return [(t, p, log) for t, p, log in self.open_logs() if log.maybe_flush()]

    # --- data notifications ---

    def notify_change(self) -> None:
        """Wakes readers waiting for data: called after every append and metadata change."""
        with self._data_cond:
            self._data_seq += 1
            self._data_cond.notify_all()

    @property
    def data_seq(self) -> int:
        return self._data_seq

    def wait_for_change(self, seen_seq: int, timeout_s: float | None) -> bool:
        """Blocks until an append or metadata change after `seen_seq` (True), or the timeout (False)."""
        with self._data_cond:
            if timeout_s is None:
                while self._data_seq == seen_seq and not self._closed:
                    self._data_cond.wait()
                return True
            deadline = time.monotonic() + timeout_s
            while self._data_seq == seen_seq and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._data_cond.wait(left)
            return True

    # --- lifecycle ---

    @property
    def closed(self) -> bool:
        return self._closed

    def flush(self) -> None:
        """fsyncs every open partition log."""
        with self._lock:
            self._check_open()
            errors = _each_in_parallel(Log.flush, list(self._logs.values()))
        if errors:
            raise errors[0]

    def close(self) -> None:
        """Closes every partition log and releases the data directory. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            errors = _each_in_parallel(Log.close, list(self._logs.values()))
            self._logs.clear()
            self._release_lock()
        self.notify_change()  # waiting readers see the manager closed
        if errors:
            raise errors[0]

    def _release_lock(self) -> None:
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        finally:
            os.close(self._lock_fd)

    def __enter__(self) -> LogManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._topics)} topics"
        return f"<{type(self).__name__} {str(self.data_dir)!r} {state}>"
