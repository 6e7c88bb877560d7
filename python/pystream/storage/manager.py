"""`LogManager`: the topics and partition logs of a broker's log directories (Kafka's LogManager).

It knows directories, topics, partitions, per-topic config, retention and the
flush policy, and the directory locks; nothing of producers, consumers or
groups. The broker (`pystream.server`) and the embedded client
(`pystream.client.Store`) are both built on it.

Layout (Kafka's, so a broker can serve the same directories later); one or
more log directories (Kafka's ``log.dirs``)::

    <each log dir>/.lock                 flock held by the one process that has the directories open
    <each log dir>/<topic>-<partition>/  one partition log (see docs/storage.md), in exactly one log dir
    <metadata dir>/topics.json           topic metadata: partition counts, config overrides, topic ids
    <metadata dir>/cleaner-offset-checkpoint  the log cleaner's progress (Kafka's file, storage/cleaner.py)

The metadata dir is the log dir that holds ``topics.json`` (the first one
when none does yet), as Kafka keeps its metadata log in the first of
log.dirs. A new partition goes to the log dir holding the fewest partitions
(ties: the earlier one), Kafka's rule; a restart finds each partition where
it is, whatever the order of the list.

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

from pystream.errors import (
    ClientClosedError,
    InvalidConfigError,
    LogDirectoryError,
    TopicExistsError,
    UnknownPartitionError,
    UnknownTopicError,
)
from pystream.storage.config_def import did_you_mean
from pystream.storage.cleaner import CleanerConfig, CleanResult, LogCleaner, UpperBound
from pystream.storage.log import Log
from pystream.storage.topic_config import (
    LOG_KWARGS,
    TOPIC_CONFIGS,
    is_compacted,
    is_internal_topic,
    log_kwargs,
    normalize_topic_config,
    validate_topic_name,
)

logger = logging.getLogger("pystream.storage")

__all__ = ["LogManager", "TopicDescription", "check_log_dirs"]

METADATA_FILE = "topics.json"
LOCK_FILE = ".lock"
METADATA_VERSION = 1
# Config values older versions stored that Kafka spells otherwise.
_LEGACY_VALUES = {("compression.type", "none"): "uncompressed"}

PathLike = str | os.PathLike[str]


class TopicDescription(NamedTuple):
    """A topic's metadata: partition count and its Kafka-named config overrides."""

    name: str
    partitions: int
    config: dict[str, Any]
    internal: bool


class _TopicMeta:
    """One topic's persisted metadata."""

    __slots__ = ("config", "partitions", "topic_id")

    def __init__(self, partitions: int, config: dict[str, Any], topic_id: uuid.UUID | None = None) -> None:
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


def _as_dirs(data_dirs: PathLike | Iterable[PathLike]) -> list[Path]:
    if isinstance(data_dirs, (str, os.PathLike)):
        return [Path(data_dirs)]
    dirs = [Path(d) for d in data_dirs]
    if not dirs:
        raise ValueError("at least one log directory is needed")
    if len({d.resolve() for d in dirs}) != len(dirs):
        raise ValueError(f"log directories listed twice: {', '.join(map(str, dirs))}")
    return dirs


def check_log_dirs(data_dirs: PathLike | Iterable[PathLike]) -> None:
    """Checks, writing nothing, that each log dir can be created or written and is not locked
    by a running process; raises LogDirectoryError saying which and what to do."""
    for d in _as_dirs(data_dirs):
        existing = d
        while not existing.exists():  # the nearest ancestor that exists must let us create `d`
            existing = existing.parent
        if not existing.is_dir():
            raise LogDirectoryError(f"log directory {d} cannot be created: {existing} is not a directory")
        if not os.access(existing, os.W_OK | os.X_OK):
            what = "is not writable" if existing == d else f"cannot be created ({existing} is not writable)"
            raise LogDirectoryError(f"log directory {d} {what}: fix its permissions or choose another directory")
        lock = d / LOCK_FILE
        if existing == d and lock.exists():
            fd = os.open(lock, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LogDirectoryError(f"log directory {d} is in use by another running broker or store "
                                        f"(its lock {lock} is held): stop it or choose another directory") from None
            finally:
                os.close(fd)


class LogManager:
    """Topics and their partition logs in one or more log directories.

    Lock order: callers may hold their own locks (an `OffsetStore`'s, to open an
    offsets partition) while taking the manager's lock, never the other way round.

    ``log_defaults`` are `Log.open` keywords (``segment_bytes``, ``retention_ms``,
    ``batch_size``, ...) applied to every partition; ``topic_defaults`` are
    topic configs (Kafka names, typed) every topic inherits (the broker's
    log.* configs); a topic's own config overrides both. ``log_cleaner``: the log
    cleaner (compaction of the topics with cleanup.policy=compact, storage/cleaner.py)
    runs in background threads from the start when True or an enabled `CleanerConfig`;
    `start_cleaner` starts it later, and `compact` cleans on demand either way.
    Thread-safe: producers and consumers may run in other threads.
    """

    def __init__(
        self,
        data_dir: PathLike | Iterable[PathLike],
        *,
        auto_create_topics: bool = True,
        num_partitions: int = 1,
        topic_defaults: Mapping[str, Any] | None = None,
        remote_storage_system: bool = False,
        log_cleaner: CleanerConfig | bool = False,
        **log_defaults: Any,
    ) -> None:
        unknown = sorted(set(log_defaults) - LOG_KWARGS)
        if unknown:
            raise ValueError(f"unknown log setting {unknown[0]!r}; supported: {', '.join(sorted(LOG_KWARGS))}")
        if num_partitions < 1:
            raise ValueError("num_partitions must be >= 1")
        self.dirs = _as_dirs(data_dir)  # the log directories, as listed
        self.auto_create_topics = auto_create_topics
        self.num_partitions = num_partitions
        self.log_defaults: dict[str, Any] = dict(log_defaults)
        self.topic_defaults: dict[str, Any] = dict(topic_defaults or {})
        self.remote_storage_system = remote_storage_system
        self._lock_fds: list[int] = []
        try:
            for d in self.dirs:
                self._lock_dir(d)
        except BaseException:
            self._release_locks()
            raise
        self._lock = threading.RLock()  # guards _topics, _logs, _where, _effective, _closed
        self._closed = False
        self._logs: dict[tuple[str, int], Log] = {}
        self._effective: dict[str, dict[str, Any]] = {}  # topic -> full typed config (cache)
        # Invariant: _data_seq grows on every append and metadata change; consumers wait on
        # _data_cond until it differs from the value they saw before reading (no lost wake-up).
        self._data_cond = threading.Condition(threading.Lock())
        self._data_seq = 0
        self.metadata_version = 0  # bumped on every topic create/delete/partition change
        try:
            self.data_dir = self._metadata_dir()
            self._topics = self._load_metadata()
            self._where = self._find_partitions()  # (topic, partition) -> its log dir
            self._creating: set[str] = set()  # topics whose directories are being made (create_topics)
        except BaseException:
            self._release_locks()
            raise
        self._cleaner: LogCleaner | None = None
        if log_cleaner is True or (isinstance(log_cleaner, CleanerConfig) and log_cleaner.enable):
            self.start_cleaner(log_cleaner if isinstance(log_cleaner, CleanerConfig) else CleanerConfig())

    def _lock_dir(self, d: Path) -> None:
        try:
            d.mkdir(parents=True, exist_ok=True)
            fd = os.open(d / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise LogDirectoryError(f"cannot use log directory {d}: {e.strerror or e}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LogDirectoryError(f"log directory {d} is in use by another process (lock {LOCK_FILE} is held)") from None
        self._lock_fds.append(fd)

    # --- metadata persistence ---

    def _metadata_dir(self) -> Path:
        holders = [d for d in self.dirs if (d / METADATA_FILE).exists()]
        if len(holders) > 1:
            raise LogDirectoryError(f"topic metadata ({METADATA_FILE}) found in several log directories: "
                                    f"{', '.join(map(str, holders))}; keep the one that is current")
        return holders[0] if holders else self.dirs[0]

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
                name: _TopicMeta(int(t["partitions"]), self._loaded_config(name, dict(t.get("config", {}))),
                                 uuid.UUID(t["id"]) if "id" in t else None)
                for name, t in raw["topics"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise LogDirectoryError(f"malformed topic metadata {path}: {e!r}") from e

    @staticmethod
    def _loaded_config(topic: str, config: dict[str, Any]) -> dict[str, Any]:
        """A topic's stored overrides, typed; values older versions wrote are read in Kafka's spelling."""
        out: dict[str, Any] = {}
        for key, value in config.items():
            spec = TOPIC_CONFIGS.get(key)
            if value is None:  # older versions stored "no flush policy" as null: the default
                continue
            if spec is None:
                logger.warning("topic %s: dropping stored config %s=%r (not a Kafka topic config)", topic, key, value)
                continue
            try:
                legacy = value if isinstance(value, list) else _LEGACY_VALUES.get((key, value), value)  # lists: cleanup.policy
                out[key] = spec.parse(legacy)
            except InvalidConfigError as e:
                logger.warning("topic %s: dropping stored config: %s", topic, e)
        return out

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
        self._effective.clear()

    def _find_partitions(self) -> dict[tuple[str, int], Path]:
        """Where each partition of a known topic is; a partition in two log dirs is an error."""
        where: dict[tuple[str, int], Path] = {}
        for d in self.dirs:
            for entry in os.scandir(d):
                topic, sep, index = entry.name.rpartition("-")
                t = self._topics.get(topic)
                if not sep or t is None or not index.isdigit() or int(index) >= t.partitions or not entry.is_dir():
                    continue
                key = (topic, int(index))
                if key in where:
                    raise LogDirectoryError(f"partition {entry.name} is in two log directories, {where[key]} and {d}: "
                                            f"remove the stale copy")
                where[key] = d
        return where

    def _dir_counts(self) -> dict[Path, int]:
        counts = dict.fromkeys(self.dirs, 0)
        for d in self._where.values():
            counts[d] = counts.get(d, 0) + 1
        return counts

    def _next_log_dir(self, counts: dict[Path, int] | None = None) -> Path:
        """Kafka's rule for a new partition: the log dir holding the fewest partitions (ties: the
        earlier). With `counts` (from `_dir_counts`, kept up to date by the caller) it is O(dirs)."""
        counts = self._dir_counts() if counts is None else counts
        d = min(self.dirs, key=lambda d: counts[d])
        counts[d] += 1
        return d

    def _new_partition_dir(self, topic: str, partition: int) -> None:
        self._clear_stale(f"{topic}-{partition}")
        d = self._next_log_dir()
        (d / f"{topic}-{partition}").mkdir()
        self._where[(topic, partition)] = d

    def _partition_dir(self, topic: str, partition: int) -> Path:
        d = self._where.get((topic, partition))
        if d is None:  # lost (removed by hand): recreated empty where Kafka would put it
            d = self._where[(topic, partition)] = self._next_log_dir()
        return d / f"{topic}-{partition}"

    def log_dir_of(self, topic: str, partition: int) -> Path:
        """The log dir holding a partition."""
        with self._lock:
            self._topic(topic)
            return self._partition_dir(topic, partition).parent

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
        (ValueError, TopicExistsError, InvalidConfigError) that refused it; the others are created
        anyway. When the directories or the metadata cannot be written (a full disk), none is
        created and each gets the LogDirectoryError (an OSError).

        The directories are made outside the manager's lock (thousands take seconds on a busy
        disk, and readers of other topics must not wait); the topics appear at the commit."""
        results: list[TopicDescription | Exception] = []
        planned: list[tuple[str, _TopicMeta, list[Path]]] = []
        with self._lock:
            self._check_open()
            counts = self._dir_counts()
            for name, partitions, config in specs:
                try:
                    validate_topic_name(name)
                    n = self.num_partitions if partitions is None else partitions
                    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                        raise ValueError(f"partitions must be an int >= 1, got {partitions!r}")
                    cfg = normalize_topic_config(config, remote_storage_system=self.remote_storage_system)
                    if name in self._topics or name in self._creating:
                        raise TopicExistsError(f"topic {name!r} already exists")
                except (ValueError, TypeError) as e:
                    results.append(e)
                    continue
                self._creating.add(name)
                paths = []
                for p in range(n):
                    d = self._where[(name, p)] = self._next_log_dir(counts)
                    paths.append(d / f"{name}-{p}")
                planned.append((name, _TopicMeta(n, cfg), paths))
                results.append(TopicDescription(name, n, dict(cfg), is_internal_topic(name)))
        try:
            for name, _meta, paths in planned:
                for path in paths:
                    self._clear_stale(path.name)
                    path.mkdir()
            with self._lock:
                self._check_open()
                for name, meta, _paths in planned:
                    self._topics[name] = meta
                if planned:
                    self._save_metadata()
        except OSError as e:
            # Nothing of this call is kept: the topics are forgotten and their directories removed.
            with self._lock:
                for name, meta, paths in planned:
                    self._topics.pop(name, None)
                    for p, path in enumerate(paths):
                        self._where.pop((name, p), None)
                        shutil.rmtree(path, ignore_errors=True)
            error = LogDirectoryError(f"cannot create topics in {', '.join(map(str, self.dirs))}: {e}")
            error.errno = e.errno
            results = [r if isinstance(r, Exception) else error for r in results]
        finally:
            with self._lock:
                self._creating.difference_update(name for name, _m, _p in planned)
        self.notify_change()
        return results

    def _clear_stale(self, dirname: str) -> None:
        """Removes a partition directory left by a deletion interrupted by a crash (not part of any topic)."""
        for d in self.dirs:
            stale = d / dirname
            if stale.exists():
                shutil.rmtree(stale)

    def _make_partition_dirs(self, name: str, partitions: Iterable[int]) -> None:
        for p in partitions:
            self._new_partition_dir(name, p)

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
        names = list(names)
        if self._cleaner is not None:  # outside our lock: a cleaning may be waiting for it
            self._cleaner.forget_topics(names)
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
            for name, t in gone.items():
                for p in range(t.partitions):
                    self._where.pop((name, p), None)
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

    def delete_partition(self, topic: str, partition: int) -> bool:
        """Closes and deletes one partition's log directory, the topic staying (a replica moved
        to other brokers: Kafka's StopReplica with delete). Opening it again starts it empty.
        Returns whether it held anything (a directory made for the topic but never used holds nothing)."""
        with self._lock:
            self._check_open()
            log = self._logs.pop((topic, partition), None)
            if log is not None:
                log.close()
            d = self._partition_dir(topic, partition)
            held = d.is_dir() and any(d.iterdir())
            shutil.rmtree(d, ignore_errors=True)
        return held

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

    def topic_config(self, topic: str) -> dict[str, Any]:
        """The topic's own overrides (typed, Kafka names)."""
        with self._lock:
            return dict(self._topic(topic).config)

    def effective_topic_config(self, topic: str) -> dict[str, Any]:
        """Every topic config's value for `topic`: its override, else the broker's default, else Kafka's.
        The dict is shared (cached): do not modify it."""
        cfg = self._effective.get(topic)  # fast path; dict reads are atomic
        if cfg is not None:
            return cfg
        with self._lock:
            cfg = self.default_topic_config()
            cfg.update(self._topic(topic).config)
            self._effective[topic] = cfg
            return cfg

    def default_topic_config(self) -> dict[str, Any]:
        """Every topic config's value for a topic that sets none: the broker's default, else Kafka's."""
        return {k: spec.default for k, spec in TOPIC_CONFIGS.items()} | self.topic_defaults

    def topic_id(self, topic: str) -> uuid.UUID:
        with self._lock:
            return self._topic(topic).topic_id

    def alter_topic_config(self, topic: str, changes: Mapping[str, Any]) -> None:
        """Sets (or, with a None value, removes) topic config overrides; open logs take them at once."""
        for key in changes:
            if key not in TOPIC_CONFIGS:
                raise InvalidConfigError(f"Unknown topic config name: {key}{did_you_mean(key, TOPIC_CONFIGS)}")
        with self._lock:
            self._check_open()
            t = self._topic(topic)
            cfg = {k: v for k, v in t.config.items() if k not in changes}
            cfg.update({k: v for k, v in changes.items() if v is not None})
            self._replace_config(topic, t, cfg)

    def _replace_config(self, topic: str, t: _TopicMeta, config: dict[str, Any]) -> None:
        t_config = normalize_topic_config(config, remote_storage_system=self.remote_storage_system)
        old, t.config = t.config, t_config
        try:
            self._save_metadata()
        except BaseException:
            t.config = old
            raise
        self._reconfigure(topic)

    def set_topic_defaults(self, defaults: Mapping[str, Any]) -> None:
        """Replaces the broker-wide topic config defaults (typed, Kafka names); open logs take them at once."""
        with self._lock:
            self.topic_defaults = dict(defaults)
            self._effective.clear()
            for topic in {t for t, _p in self._logs}:
                self._reconfigure(topic)

    def _log_kwargs(self, topic: str) -> dict[str, Any]:
        return log_kwargs(self.log_defaults, {**self.topic_defaults, **self._topics[topic].config})

    def _reconfigure(self, topic: str) -> None:
        """Applies the topic's current config to its open logs (caller holds the lock)."""
        self._effective.pop(topic, None)
        kwargs = self._log_kwargs(topic)
        kwargs.pop("segment_index_bytes", None)  # fixed while a segment is open
        for k in ("flush_messages", "flush_ms"):
            if k in kwargs and kwargs[k] is None:
                kwargs[k] = -1  # reconfigure's word for "no flush policy"
        for (name, _p), log in self._logs.items():
            if name == topic:
                log.reconfigure(**kwargs)

    def is_compacted(self, topic: str) -> bool:
        """Whether the topic's cleanup.policy (its own, else the default) lists compact (False for unknown topics)."""
        try:
            return is_compacted(self.effective_topic_config(topic))
        except UnknownTopicError:
            return False

    def max_message_bytes(self, topic: str) -> int:
        """The topic's max.message.bytes."""
        return int(self.effective_topic_config(topic)["max.message.bytes"])

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
                # The manager holds every log dir's lock: no per-partition lock (one descriptor less each).
                log = Log.open(self._partition_dir(topic, partition), lock_dir=False, **self._log_kwargs(topic))
                self._logs[(topic, partition)] = log
            return log

    def log_dirs(self) -> dict[Path, list[tuple[str, int]]]:
        """Each log directory (absolute, in the order listed) and the partitions (topic, index) stored in it."""
        with self._lock:
            self._check_open()
            out: dict[Path, list[tuple[str, int]]] = {d: [] for d in self.dirs}
            for name, t in sorted(self._topics.items()):
                for i in range(t.partitions):
                    d = self._where.get((name, i))
                    if d is not None:
                        out[d].append((name, i))
        return {d.resolve(): parts for d, parts in out.items()}

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
        """(topic, partition, log) of every partition log opened so far (a snapshot: list() of a
        dict is atomic under the GIL, so no lock is taken and no caller waits on a long one)."""
        return [(t, p, log) for (t, p), log in list(self._logs.items())]

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

    # --- log compaction (storage/cleaner.py) ---

    def _log_cleaner(self) -> LogCleaner:
        with self._lock:
            if self._cleaner is None:
                self._cleaner = LogCleaner(self)
            return self._cleaner

    def start_cleaner(self, config: CleanerConfig | None = None, upper_bound: UpperBound | None = None) -> LogCleaner:
        """Starts the log cleaner's threads with `config` (Kafka's log.cleaner.* settings);
        ``upper_bound(topic, partition)`` bounds what may be cleaned (see `LogCleaner`)."""
        with self._lock:
            self._check_open()
            cleaner = self._log_cleaner()
            if config is not None:
                cleaner.config = config
            if upper_bound is not None:
                cleaner.upper_bound = upper_bound
            cleaner.start()
            return cleaner

    def stop_cleaner(self) -> None:
        """Stops the cleaner's threads (a cleaning in progress is aborted)."""
        if self._cleaner is not None:
            self._cleaner.stop()

    @property
    def cleaner(self) -> LogCleaner:
        """The log cleaner (created on first use; its threads run after `start_cleaner`)."""
        return self._log_cleaner()

    def compact(self, topics: str | Iterable[str] | None = None) -> list[CleanResult]:
        """Compacts the partitions of the compacted `topics` (default: every topic with
        cleanup.policy=compact) now, whatever their dirty ratio; returns the rounds run.
        The active segment of each partition is never compacted."""
        self._check_open()
        return self._log_cleaner().compact(topics)

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
        """Stops the log cleaner, closes every partition log and releases the log directories. Idempotent."""
        self.stop_cleaner()  # before our lock: its threads may be waiting for it
        with self._lock:
            if self._closed:
                return
            self._closed = True
            errors = _each_in_parallel(Log.close, list(self._logs.values()))
            self._logs.clear()
            self._release_locks()
        self.notify_change()  # waiting readers see the manager closed
        if errors:
            raise errors[0]

    def _release_locks(self) -> None:
        while self._lock_fds:
            fd = self._lock_fds.pop()
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def __enter__(self) -> LogManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._topics)} topics"
        dirs = ", ".join(repr(str(d)) for d in self.dirs)
        return f"<{type(self).__name__} {dirs} {state}>"
