"""pystream: Kafka-compatible event streaming for Python with a Rust storage core.

- `pystream.Log`: one partition log (Kafka's on-disk format) — the storage core.
- `pystream.open(data_dir)`: the embedded store of topics, with producer and consumer.
"""

from pystream._core import Record
from pystream.client import (
    Consumer,
    ConsumerRecord,
    OffsetAndMetadata,
    Producer,
    RecordMetadata,
    Store,
    TopicDescription,
    TopicPartition,
    open,
)
from pystream.errors import (
    ClientClosedError,
    CorruptRecordError,
    LogClosedError,
    LogDirectoryError,
    LogWriteError,
    NoOffsetForPartitionError,
    OffsetOutOfRangeError,
    PystreamError,
    RecordTooLargeError,
    StorageError,
    TopicExistsError,
    UnknownPartitionError,
    UnknownTopicError,
)
from pystream.storage.log import Columns, Log

__all__ = [
    "ClientClosedError",
    "Columns",
    "Consumer",
    "ConsumerRecord",
    "CorruptRecordError",
    "Log",
    "LogClosedError",
    "LogDirectoryError",
    "LogWriteError",
    "NoOffsetForPartitionError",
    "OffsetAndMetadata",
    "OffsetOutOfRangeError",
    "Producer",
    "PystreamError",
    "Record",
    "RecordMetadata",
    "RecordTooLargeError",
    "StorageError",
    "Store",
    "TopicDescription",
    "TopicExistsError",
    "TopicPartition",
    "UnknownPartitionError",
    "UnknownTopicError",
    "open",
]
__version__ = "0.1.0"
