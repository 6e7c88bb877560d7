"""pystream: Kafka-compatible event streaming for Python with a Rust storage core.

- `pystream.Log`: one partition log (Kafka's on-disk format) — the storage core.
- `pystream.open(data_dir)`: the embedded store of topics, with producer and consumer.
"""

from pystream._core import Record
from pystream.errors import (
    CorruptRecordError,
    LogClosedError,
    LogDirectoryError,
    OffsetOutOfRangeError,
    PystreamError,
)
from pystream.storage.log import Columns, Log

__all__ = [
    "Columns",
    "CorruptRecordError",
    "Log",
    "LogClosedError",
    "LogDirectoryError",
    "OffsetOutOfRangeError",
    "PystreamError",
    "Record",
]
__version__ = "0.1.0"
