"""`Store`: the embedded, serverless face of a data directory — `pystream.open()`.

A `Store` is the storage layer's `LogManager` (topics, partition logs, the
directory lock) plus what an embedded application needs around it: the
committed offsets of consumer groups (``__consumer_offsets``, created on first
use) and factories of `Producer` and `Consumer`. The broker builds on the same
`LogManager`, so a directory written here is served by `pystream serve`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from pystream.client.consumer import Consumer
from pystream.client.producer import Producer
from pystream.client.types import TopicPartition
from pystream.coordinator.offsets import DEFAULT_OFFSETS_TOPIC_PARTITIONS, OFFSETS_TOPIC, OffsetStore, open_offset_store
from pystream.storage.cleaner import CleanerConfig
from pystream.storage.manager import LogManager

__all__ = ["Store", "open"]

_TABLE_CHUNK = 10_000  # records per read while building a table


class Store(LogManager):
    """Topics and partitions in one data directory, with producers and consumers, no server.

    Keywords: those of `LogManager` (``auto_create_topics``, ``num_partitions``,
    ``log_cleaner`` and `Log.open` defaults such as ``segment_bytes``) and
    ``offsets_topic_partitions`` (partitions of ``__consumer_offsets`` when this store
    creates it). The log cleaner compacts the topics with cleanup.policy=compact in a
    background thread unless ``log_cleaner=False``; `compact` does it on demand.
    Thread-safe: producers and consumers may run in other threads.
    """

    def __init__(self, data_dir: str | os.PathLike[str], *, offsets_topic_partitions: int = DEFAULT_OFFSETS_TOPIC_PARTITIONS,
                 log_cleaner: CleanerConfig | bool = True, **config: Any) -> None:
        if offsets_topic_partitions < 1:
            raise ValueError("offsets_topic_partitions must be >= 1")
        super().__init__(data_dir, log_cleaner=log_cleaner, **config)
        self.offsets_topic_partitions = offsets_topic_partitions
        self._offsets: OffsetStore | None = None

    @property
    def offsets(self) -> OffsetStore:
        """Committed offsets of consumer groups (creates ``__consumer_offsets`` on first use)."""
        with self._lock:
            self._check_open()
            if self._offsets is None:
                self._offsets = open_offset_store(self, self.offsets_topic_partitions)
            return self._offsets

    def groups(self) -> list[str]:
        """Consumer groups with committed offsets."""
        if OFFSETS_TOPIC not in self.list_topics(include_internal=True):
            return []
        return self.offsets.groups()

    def delete_topic(self, name: str) -> None:
        """Deletes a topic, its partition directories and the offsets groups committed for it."""
        super().delete_topic(name)
        if name != OFFSETS_TOPIC and OFFSETS_TOPIC in self.list_topics(include_internal=True):
            # Outside the manager's lock: the OffsetStore takes its own lock, then the manager's.
            self.offsets.delete_topic(name)

    def table(self, topic: str) -> dict[bytes, bytes]:
        """The topic read as a table: each key's latest value, a null value (tombstone)
        deleting the key; records without a key are skipped. Reads every partition from
        its start up to its end when called — what log compaction keeps of a topic with
        cleanup.policy=compact, so such a topic reads as a table cheaply. Reads as
        read_uncommitted: records of transactions not committed (yet) count too."""
        out: dict[bytes, bytes] = {}
        for p in range(self.partition_count(topic)):
            log = self.partition_log(topic, p)
            pos, end = log.start_offset, log.end_offset
            while pos < end:
                records = log.records(pos, max_records=_TABLE_CHUNK, max_offset=end)
                if not records:
                    break  # only gaps and markers are left below `end`
                for r in records:
                    if r.key is None:
                        continue
                    if r.value is None:
                        out.pop(r.key, None)
                    else:
                        out[r.key] = r.value
                pos = records[-1].offset + 1
        return out

    def producer(self, **config: Any) -> Producer:
        """A `Producer` writing to this store (see its config keywords)."""
        self._check_open()
        return Producer(self, **config)

    def consumer(self, topics: str | Iterable[str | TopicPartition], group: str | None = None, auto_offset_reset: str = "earliest",
                 **config: Any) -> Consumer:
        """A `Consumer` of every partition of `topics` (or of the given TopicPartitions)."""
        self._check_open()
        return Consumer(self, topics, group=group, offsets=self.offsets if group is not None else None,
                        auto_offset_reset=auto_offset_reset, **config)


def open(data_dir: str | os.PathLike[str], **config: Any) -> Store:  # noqa: A001 - exported as pystream.open
    """Opens (creating if needed) the embedded store in `data_dir`; see `Store` for the keywords."""
    return Store(data_dir, **config)
