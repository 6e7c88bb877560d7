"""`Log`: the Python face of the Rust partition log (`pystream._core.PartitionLog`).

`Log` subclasses the native class, so hot calls (`append`, `read`, `records`)
go straight to Rust; this module adds what is Python's to do: numpy columns,
logging of what recovery cut, and the context-manager protocol.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pystream._core import PartitionLog, verify_segment

logger = logging.getLogger("pystream.storage")

__all__ = ["Columns", "Log", "SegmentProblem", "verify_dir"]

# (segment file, byte position of the bad batch, its base offset or the offset expected there, why)
SegmentProblem = tuple[Path, int, int, str]


@dataclass(frozen=True)
class Columns:
    """Records as columns: no per-record Python objects.

    Record ``i`` has offset ``offsets[i]``, timestamp ``timestamps[i]`` and
    value ``values[value_starts[i] : value_starts[i] + value_lengths[i]]``
    (null when ``value_lengths[i] == -1``); keys likewise. ``values`` and
    ``keys`` are one buffer each: when the records lie uncompressed in one
    stretch of a segment, that stretch of the file mapping itself (no copy),
    else a packed copy.
    """

    offsets: np.ndarray  # int64
    timestamps: np.ndarray  # int64
    key_starts: np.ndarray  # int64
    key_lengths: np.ndarray  # int32, -1 = null
    keys: np.ndarray  # uint8
    value_starts: np.ndarray  # int64
    value_lengths: np.ndarray  # int32, -1 = null
    values: np.ndarray  # uint8

    def __len__(self) -> int:
        return len(self.offsets)

    def value(self, i: int) -> bytes | None:
        n = int(self.value_lengths[i])
        if n < 0:
            return None
        start = int(self.value_starts[i])
        return self.values[start : start + n].tobytes()

    def key(self, i: int) -> bytes | None:
        n = int(self.key_lengths[i])
        if n < 0:
            return None
        start = int(self.key_starts[i])
        return self.keys[start : start + n].tobytes()


_COLUMN_DTYPES = (np.int64, np.int64, np.int64, np.int32, np.uint8, np.int64, np.int32, np.uint8)


class Log(PartitionLog):
    """A Kafka-format partition log in one directory (see docs/storage.md).

    Configuration uses Kafka's names with dots as underscores: ``segment_bytes``,
    ``segment_ms``, ``index_interval_bytes``, ``segment_index_bytes``,
    ``retention_ms``, ``retention_bytes``, ``flush_messages``, ``flush_ms``,
    plus ``batch_size`` (bytes of records per batch built by ``append``) and
    ``compression_type`` (none, gzip, snappy, lz4, zstd).
    """

    @classmethod
    def open(cls, path: str | os.PathLike[str], **config: Any) -> "Log":
        log = cls(path, **config)
        for note in log.take_recovery_notes():
            logger.warning("recovery of %s: %s", path, note)
        return log

    def read_columns(
        self, offset: int, max_records: int | None = None, max_offset: int | None = None, *, verify_crc: bool = True
    ) -> Columns:
        """Records from ``offset`` on as numpy columns. Each batch's CRC32C is
        checked unless ``verify_crc=False`` (CorruptRecordError otherwise)."""
        raw = self._read_columns(offset, max_records, max_offset, verify_crc=verify_crc)
        return Columns(*(np.frombuffer(buf, dtype=dt) for buf, dt in zip(raw, _COLUMN_DTYPES)))

    def __enter__(self) -> "Log":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return f"<Log {str(self.path)!r} closed>"
        return f"<Log {str(self.path)!r} offsets [{self.start_offset}, {self.end_offset})>"


def verify_dir(path: str | os.PathLike[str]) -> list[SegmentProblem]:
    """Fully checks every segment file (``NNNN.log``) of a partition directory
    without opening the log (nothing is written, no lock is taken, so it also
    runs beside a live broker): framing, CRC32C, record framing and increasing
    offsets of every batch. Returns the first bad batch of each damaged
    segment, oldest segment first; empty when every batch is valid.

    `Log.verify()` does the same for a log that is open."""
    segments = sorted(p for p in Path(path).iterdir() if p.suffix == ".log" and len(p.stem) == 20 and p.stem.isdigit())
    problems: list[SegmentProblem] = []
    for seg in segments:
        problems.extend(verify_segment(seg))
    return problems
