"""Type stubs of the Rust storage core (rust/src/python.rs)."""

import os
import pathlib
from collections.abc import Buffer, Iterable, Sequence
from typing import Any

_Bytes = bytes | bytearray | memoryview | Buffer
_Headers = Sequence[tuple[str, _Bytes | None]]
# (base_offset, last_offset, producer_id, producer_epoch, base_sequence, record_count, max_timestamp, attributes)
BatchSummary = tuple[int, int, int, int, int, int, int, int]
# (segment file, byte position of the first bad batch, its base offset or the offset expected there, reason)
SegmentProblem = tuple[pathlib.Path, int, int, str]

class Record:
    """One record of a partition; equal to a Record or a 5-tuple with the same fields."""

    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    def __init__(
        self,
        offset: int,
        timestamp: int,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: Iterable[tuple[str, bytes | None]] | None = None,
    ) -> None: ...
    def as_tuple(self) -> tuple[int, int, bytes | None, bytes | None, tuple[tuple[str, bytes | None], ...]]: ...

class MappedSlice:
    """Read-only zero-copy buffer over a segment file mapping."""

    def __len__(self) -> int: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...

class ColumnBuffer:
    """Owned column buffer (format B, i or q)."""

    def __len__(self) -> int: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...

class PartitionLog:
    """A Kafka-format partition log in one directory (see docs/storage.md)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        segment_bytes: int = 1 << 30,
        segment_ms: int = 604_800_000,
        index_interval_bytes: int = 4096,
        segment_index_bytes: int = 10_485_760,
        retention_ms: int = 604_800_000,
        retention_bytes: int = -1,
        flush_messages: int | None = None,
        flush_ms: int | None = None,
        batch_size: int = 16384,
        compression_type: str = "none",
        lock_dir: bool = True,
    ) -> None: ...
    def reconfigure(
        self,
        *,
        segment_bytes: int | None = None,
        segment_ms: int | None = None,
        index_interval_bytes: int | None = None,
        retention_ms: int | None = None,
        retention_bytes: int | None = None,
        flush_messages: int | None = None,
        flush_ms: int | None = None,
        batch_size: int | None = None,
        compression_type: str | None = None,
    ) -> None: ...
    def append(
        self,
        value: _Bytes | None,
        key: _Bytes | None = None,
        headers: _Headers | None = None,
        timestamp_ms: int | None = None,
    ) -> int: ...
    def append_batch(
        self,
        values: Sequence[_Bytes | None] | Buffer,
        keys: Sequence[_Bytes | None] | Buffer | None = None,
        timestamp_ms: int | None = None,
    ) -> int: ...
    # append, append_batch, append_raw (and flush, close) are atomic: on an I/O
    # error they raise LogWriteError (an OSError, errno kept) and the log is as
    # before the call.
    def append_raw(self, batches: _Bytes, *, assign_offsets: bool = True) -> int: ...
    # read/read_file_range: whole, well-framed batches with a valid CRC32C only
    # (each batch checked once, then remembered; verify_crc=False: framing only);
    # CorruptRecordError when the batch holding `offset` is bad.
    def read(
        self, offset: int, max_bytes: int = 1 << 20, max_offset: int | None = None, *, verify_crc: bool = True
    ) -> memoryview: ...
    def read_file_range(
        self, offset: int, max_bytes: int = 1 << 20, max_offset: int | None = None, *, verify_crc: bool = True
    ) -> tuple[pathlib.Path, int, int] | None:
        """Racy with compaction (the file at the path may be swapped for a cleaned one): prefer `read`."""
    def records(
        self, offset: int, max_records: int | None = None, max_offset: int | None = None, *, verify_crc: bool = True
    ) -> list[Record]: ...
    def _read_columns(
        self, offset: int, max_records: int | None = None, max_offset: int | None = None, *, verify_crc: bool = True
    ) -> tuple[Any, ...]: ...
    def scan_batches(self, offset: int, max_batches: int | None = None) -> list[BatchSummary]: ...
    def offset_for_timestamp(self, timestamp_ms: int) -> int | None: ...
    @property
    def start_offset(self) -> int: ...
    @property
    def end_offset(self) -> int: ...
    @property
    def recovery_point(self) -> int: ...
    @property
    def size_bytes(self) -> int: ...
    @property
    def leader_epoch(self) -> int: ...
    @leader_epoch.setter
    def leader_epoch(self, epoch: int) -> None: ...
    @property
    def path(self) -> pathlib.Path: ...
    @property
    def closed(self) -> bool: ...
    def segments(self) -> list[tuple[int, int]]: ...
    def take_recovery_notes(self) -> list[str]: ...
    def flush(self, fsync: bool = True) -> None: ...
    def maybe_flush(self) -> bool: ...
    def truncate_to(self, offset: int) -> None: ...
    def delete_records_before(self, offset: int) -> int: ...
    def truncate_fully_and_start_at(self, offset: int) -> None: ...
    def enforce_retention(self, now_ms: int | None = None) -> int: ...
    # log compaction (rust/src/cleaner.rs; scheduled by pystream.storage.cleaner)
    def cleanable_section(
        self,
        first_dirty: int,
        *,
        upper_bound: int | None = None,
        now_ms: int | None = None,
        min_compaction_lag_ms: int = 0,
        max_compaction_lag_ms: int = 2**63 - 1,
    ) -> tuple[int, int, int, int, int]:
        """(first_dirty, first_uncleanable, clean_bytes, cleanable_bytes, compaction_delay_ms)."""
    def clean(
        self,
        first_dirty: int,
        *,
        upper_bound: int | None = None,
        now_ms: int | None = None,
        min_compaction_lag_ms: int = 0,
        delete_retention_ms: int = 86_400_000,
        producer_expiration_ms: int = 86_400_000,
        dedupe_buffer_bytes: int = 134_217_728,
        load_factor: float = 0.9,
        io_max_bytes_per_sec: float = float("inf"),
    ) -> dict[str, Any]:
        """One cleaning round with the GIL released; its statistics (``end_offset``: the next checkpoint)."""
    def abort_cleaning(self) -> bool: ...
    def close(self) -> None: ...
    def verify(self) -> list[SegmentProblem]: ...

def crc32c(data: _Bytes) -> int: ...
def stamp_log_append_time(data: _Bytes, now_ms: int) -> bytes: ...
def encode_batch(
    records: Iterable[tuple[int, _Bytes | None, _Bytes | None, _Headers | None]],
    base_offset: int = 0,
    compression_type: str = "none",
    partition_leader_epoch: int = -1,
) -> bytes: ...
def decode_records(data: _Bytes) -> list[Record]: ...
def batch_headers(data: _Bytes) -> list[dict[str, int | bool]]: ...
def peek_batches(data: _Bytes) -> list[tuple[BatchSummary, int]]: ...
def verify_segment(path: str | os.PathLike[str]) -> list[SegmentProblem]: ...
