"""Value types of the embedded client, shaped like kafka-python's."""

from __future__ import annotations

from typing import NamedTuple

from pystream.storage.manager import TopicDescription

__all__ = ["ConsumerRecord", "RecordMetadata", "TopicDescription", "TopicPartition"]


class TopicPartition(NamedTuple):
    """One partition of one topic."""

    topic: str
    partition: int


class RecordMetadata(NamedTuple):
    """Where `Producer.send` put a record."""

    topic: str
    partition: int
    offset: int
    timestamp: int


class ConsumerRecord(NamedTuple):
    """One record delivered by a `Consumer`."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
