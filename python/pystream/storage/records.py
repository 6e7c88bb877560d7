"""Pure-Python codec of Kafka RecordBatch v2 (magic 2), see docs/storage.md.

This is the reference implementation the Rust core (`pystream._core`) is
checked against, and the codec of the pure-Python reference log. It is written
for clarity first: `struct` for the 61-byte header, `bytearray` joins for the
records, zig-zag varints as in protobuf's ``sint``.

Public API:

- `Record(offset, timestamp, key, value, headers)`: one decoded record;
- `BatchHeader`: the 61 header bytes of a batch as a dataclass;
- `encode_batch(base_offset, records, ...) -> bytes`;
- `decode_batches(buf) -> Iterator[(BatchHeader, list[Record])]`;
- `check_batch(buf, pos)`: validate the framing and CRC of one batch;
- `crc32c(data) -> int`; varint helpers; `compress` / `decompress`.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

from pystream.errors import CorruptRecordError

__all__ = [
    "ATTR_COMPRESSION_MASK",
    "ATTR_CONTROL",
    "ATTR_LOG_APPEND_TIME",
    "ATTR_TRANSACTIONAL",
    "BatchHeader",
    "COMPRESSION_CODECS",
    "HEADER_LEN",
    "LOG_OVERHEAD",
    "Record",
    "check_batch",
    "codec_id",
    "compress",
    "crc32c",
    "decode_batch_records",
    "decode_batches",
    "decode_varint",
    "decode_varlong",
    "decompress",
    "encode_batch",
    "encode_record",
    "encode_varint",
    "encode_varlong",
    "iter_batch_headers",
]

# ---------------------------------------------------------------------------
# Layout constants
# ---------------------------------------------------------------------------

HEADER_LEN = 61
LOG_OVERHEAD = 12  # baseOffset i64 + batchLength i32
# offsets of fields inside the header
BASE_OFFSET_POS = 0
BATCH_LENGTH_POS = 8
PARTITION_LEADER_EPOCH_POS = 12
MAGIC_POS = 16
CRC_POS = 17
ATTRIBUTES_POS = 21

_HEADER = struct.Struct(">qiibIhiqqqhii")
assert _HEADER.size == HEADER_LEN
# everything the CRC covers in the header: attributes .. recordCount
_CRC_PART = struct.Struct(">hiqqqhii")
assert _CRC_PART.size == HEADER_LEN - ATTRIBUTES_POS
_PREFIX = struct.Struct(">qiib")  # baseOffset, batchLength, leaderEpoch, magic

ATTR_COMPRESSION_MASK = 0x07
ATTR_LOG_APPEND_TIME = 0x08
ATTR_TRANSACTIONAL = 0x10
ATTR_CONTROL = 0x20

COMPRESSION_CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
_CODEC_NAMES = {v: k for k, v in COMPRESSION_CODECS.items()}


def codec_id(compression: int | str | None) -> int:
    """Codec number (0-4) for a name such as ``"gzip"`` or a number."""
    if compression is None:
        return 0
    if isinstance(compression, str):
        try:
            return COMPRESSION_CODECS[compression.lower()]
        except KeyError:
            raise ValueError(
                f"unknown compression type {compression!r}; expected one of {sorted(COMPRESSION_CODECS)}"
            ) from None
    c = int(compression)
    if c not in _CODEC_NAMES:
        raise ValueError(f"unknown compression codec {c}; expected 0-4")
    return c


# ---------------------------------------------------------------------------
# Record
# ---------------------------------------------------------------------------


class Record(NamedTuple):
    """One record of a partition. ``headers`` is a tuple of ``(str, bytes | None)``."""

    offset: int
    timestamp: int
    key: bytes | None = None
    value: bytes | None = None
    headers: tuple = ()


@dataclass(frozen=True)
class BatchHeader:
    """The 61-byte header of a RecordBatch v2."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int

    @classmethod
    def parse(cls, buf: Any, pos: int = 0) -> "BatchHeader":
        return cls(*_HEADER.unpack_from(buf, pos))

    def pack(self) -> bytes:
        return _HEADER.pack(
            self.base_offset,
            self.batch_length,
            self.partition_leader_epoch,
            self.magic,
            self.crc,
            self.attributes,
            self.last_offset_delta,
            self.base_timestamp,
            self.max_timestamp,
            self.producer_id,
            self.producer_epoch,
            self.base_sequence,
            self.record_count,
        )

    @property
    def size(self) -> int:
        """Bytes of the whole batch on disk / on the wire."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> int:
        return self.attributes & ATTR_COMPRESSION_MASK

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & ATTR_CONTROL)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & ATTR_TRANSACTIONAL)

    @property
    def log_append_time(self) -> bool:
        return bool(self.attributes & ATTR_LOG_APPEND_TIME)


# ---------------------------------------------------------------------------
# CRC32C (Castagnoli)
# ---------------------------------------------------------------------------


def _make_crc_tables() -> list[list[int]]:
    poly = 0x82F63B78  # reflected 0x1EDC6F41
    t0 = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        t0.append(c)
    tables = [t0]
    for _k in range(1, 8):
        prev = tables[-1]
        tables.append([(prev[i] >> 8) ^ t0[prev[i] & 0xFF] for i in range(256)])
    return tables


_CRC_TABLES = _make_crc_tables()


def _crc32c_py(data: Any, crc: int = 0) -> int:
    """Table-driven CRC32C (slicing-by-8), pure Python."""
    mv = memoryview(data).cast("B")
    n = len(mv)
    crc ^= 0xFFFFFFFF
    t0, t1, t2, t3, t4, t5, t6, t7 = _CRC_TABLES
    end8 = n - (n % 8)
    if end8:
        from_bytes = int.from_bytes
        b = bytes(mv[:end8])
        for i in range(0, end8, 8):
            lo = from_bytes(b[i : i + 4], "little") ^ crc
            hi = from_bytes(b[i + 4 : i + 8], "little")
            crc = (
                t7[lo & 0xFF]
                ^ t6[(lo >> 8) & 0xFF]
                ^ t5[(lo >> 16) & 0xFF]
                ^ t4[lo >> 24]
                ^ t3[hi & 0xFF]
                ^ t2[(hi >> 8) & 0xFF]
                ^ t1[(hi >> 16) & 0xFF]
                ^ t0[hi >> 24]
            )
    for byte in mv[end8:]:
        crc = t0[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


try:  # the C implementation when the `crc32c` package is installed
    import crc32c as _crc32c_mod

    def crc32c(data: Any) -> int:
        """CRC32C (Castagnoli) of a bytes-like object."""
        return _crc32c_mod.crc32c(data)

except ImportError:  # pragma: no cover - depends on the environment

    def crc32c(data: Any) -> int:
        """CRC32C (Castagnoli) of a bytes-like object."""
        return _crc32c_py(data)


# ---------------------------------------------------------------------------
# Varints (zig-zag, protobuf sint32 / sint64)
# ---------------------------------------------------------------------------


def _uvarint(z: int) -> bytes:
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


_VARINT_CACHE = [_uvarint(z) for z in range(1 << 14)]


def encode_varlong(value: int) -> bytes:
    """Zig-zag varint of a signed 64-bit value."""
    if not -(1 << 63) <= value < (1 << 63):
        raise OverflowError(f"{value} does not fit a signed 64-bit varlong")
    z = (value << 1) ^ (value >> 63)
    if z < 16384:
        return _VARINT_CACHE[z]
    return _uvarint(z)


def encode_varint(value: int) -> bytes:
    """Zig-zag varint of a signed 32-bit value."""
    if not -(1 << 31) <= value < (1 << 31):
        raise OverflowError(f"{value} does not fit a signed 32-bit varint")
    z = (value << 1) ^ (value >> 31)
    if z < 16384:
        return _VARINT_CACHE[z]
    return _uvarint(z)


def _decode_uvarint(buf: Any, pos: int, max_bytes: int) -> tuple[int, int]:
    result = 0
    shift = 0
    n = len(buf)
    for i in range(max_bytes):
        if pos >= n:
            raise CorruptRecordError("varint runs past the end of the data")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
    raise CorruptRecordError(f"varint longer than {max_bytes} bytes")


def decode_varint(buf: Any, pos: int = 0) -> tuple[int, int]:
    """Decodes a zig-zag varint (32-bit) at ``pos``; returns ``(value, new_pos)``."""
    z, pos = _decode_uvarint(buf, pos, 5)
    if z >> 32:
        raise CorruptRecordError("varint does not fit 32 bits")
    return (z >> 1) ^ -(z & 1), pos


def decode_varlong(buf: Any, pos: int = 0) -> tuple[int, int]:
    """Decodes a zig-zag varlong (64-bit) at ``pos``; returns ``(value, new_pos)``."""
    z, pos = _decode_uvarint(buf, pos, 10)
    if z >> 64:
        raise CorruptRecordError("varlong does not fit 64 bits")
    return (z >> 1) ^ -(z & 1), pos


# ---------------------------------------------------------------------------
# Compression
# ---------------------------------------------------------------------------

_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = _XERIAL_MAGIC + struct.pack(">ii", 1, 1)
_XERIAL_BLOCK = 32 * 1024  # snappy-java's default block size, as Kafka's producer uses


def _need(module: str, package: str, codec: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{codec} compression needs the {package!r} package, which is not installed (pip install {package})"
        ) from None


def compress(codec: int, data: bytes) -> bytes:
    """Compresses a records section with codec 1-4 (Kafka's framing for each)."""
    if codec == 0:
        return bytes(data)
    if codec == 1:
        return gzip.compress(data, mtime=0)
    if codec == 2:
        snappy = _need("cramjam", "cramjam", "snappy").snappy
        out = bytearray(_XERIAL_HEADER)
        mv = memoryview(data)
        for i in range(0, len(mv), _XERIAL_BLOCK):
            block = bytes(snappy.compress_raw(bytes(mv[i : i + _XERIAL_BLOCK])))
            out += struct.pack(">i", len(block))
            out += block
        return bytes(out)
    if codec == 3:
        lz4frame = _need("lz4.frame", "lz4", "lz4")
        return lz4frame.compress(bytes(data), block_size=lz4frame.BLOCKSIZE_MAX64KB, block_linked=False)
    if codec == 4:
        zstandard = _need("zstandard", "zstandard", "zstd")
        return zstandard.ZstdCompressor().compress(bytes(data))
    raise ValueError(f"unknown compression codec {codec}")


def decompress(codec: int, data: Any) -> bytes:
    """Decompresses a records section; raises CorruptRecordError on bad data."""
    data = bytes(data)
    if codec == 0:
        return data
    try:
        if codec == 1:
            if data[:2] == b"\x1f\x8b":
                return gzip.decompress(data)
            return zlib.decompress(data)
        if codec == 2:
            snappy = _need("cramjam", "cramjam", "snappy").snappy
            if data.startswith(_XERIAL_MAGIC):
                if len(data) < 16:
                    raise CorruptRecordError("truncated xerial snappy header")
                out = bytearray()
                pos = 16
                while pos < len(data):
                    if pos + 4 > len(data):
                        raise CorruptRecordError("truncated xerial snappy block length")
                    (n,) = struct.unpack_from(">i", data, pos)
                    pos += 4
                    if n < 0 or pos + n > len(data):
                        raise CorruptRecordError("xerial snappy block overruns the data")
                    out += bytes(snappy.decompress_raw(data[pos : pos + n]))
                    pos += n
                return bytes(out)
            return bytes(snappy.decompress_raw(data))
        if codec == 3:
            lz4frame = _need("lz4.frame", "lz4", "lz4")
            return lz4frame.decompress(data)
        if codec == 4:
            zstandard = _need("zstandard", "zstandard", "zstd")
            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True) as r:
                return r.read()
    except (CorruptRecordError, ImportError):
        raise
    except Exception as e:  # each library has its own error type
        raise CorruptRecordError(f"cannot decompress {_CODEC_NAMES.get(codec, codec)} data: {e}") from e
    raise CorruptRecordError(f"unknown compression codec {codec}")


# ---------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------


def _record_fields(r: Any) -> tuple[int, Any, Any, Any]:
    """(timestamp, key, value, headers) of a Record-like object or tuple."""
    if hasattr(r, "timestamp"):
        return r.timestamp, r.key, r.value, getattr(r, "headers", None)
    if len(r) == 4:
        return r[0], r[1], r[2], r[3]
    if len(r) == 5:  # (offset, timestamp, key, value, headers)
        return r[1], r[2], r[3], r[4]
    if len(r) == 3:
        return r[0], r[1], r[2], None
    raise TypeError("records must be Record objects or (timestamp, key, value, headers) tuples")


def _bytes_field(b: Any) -> bytes:
    if b is None:
        return b"\x01"  # zig-zag(-1)
    if not isinstance(b, (bytes, bytearray)):
        b = bytes(memoryview(b).cast("B"))
    return encode_varint(len(b)) + bytes(b)


def encode_record(offset_delta: int, timestamp_delta: int, key: Any, value: Any, headers: Any = None) -> bytes:
    """One record, its length prefix included."""
    parts = [b"\x00", encode_varlong(timestamp_delta), encode_varint(offset_delta), _bytes_field(key), _bytes_field(value)]
    if headers:
        parts.append(encode_varint(len(headers)))
        for hk, hv in headers:
            if isinstance(hk, str):
                hk = hk.encode("utf-8")
            parts.append(_bytes_field(hk))
            parts.append(_bytes_field(hv))
    else:
        parts.append(b"\x00")
    body = b"".join(parts)
    return encode_varint(len(body)) + body


def record_size(timestamp_delta: int, offset_delta: int, key: Any, value: Any, headers: Any = None) -> int:
    """Encoded size of one record (length prefix included)."""
    return len(encode_record(offset_delta, timestamp_delta, key, value, headers))


def build_batch(
    base_offset: int,
    records_section: bytes,
    *,
    count: int,
    base_timestamp: int,
    max_timestamp: int,
    compression: int = 0,
    partition_leader_epoch: int = 0,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    attributes_extra: int = 0,
    last_offset_delta: int | None = None,
) -> bytes:
    """Frames an (uncompressed) records section into a batch: header, CRC, compression."""
    codec = codec_id(compression)
    payload = compress(codec, records_section) if codec else records_section
    attributes = codec | (attributes_extra & ~ATTR_COMPRESSION_MASK)
    if last_offset_delta is None:
        last_offset_delta = count - 1
    crc_part = _CRC_PART.pack(
        attributes,
        last_offset_delta,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        count,
    )
    crc = crc32c(crc_part + payload)
    batch_length = HEADER_LEN - LOG_OVERHEAD + len(payload)
    return b"".join(
        (
            _PREFIX.pack(base_offset, batch_length, partition_leader_epoch, 2),
            struct.pack(">I", crc),
            crc_part,
            payload,
        )
    )


def encode_batch(
    base_offset: int,
    records: Sequence[Any],
    *,
    base_timestamp: int | None = None,
    compression: int | str = 0,
    partition_leader_epoch: int = 0,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    attributes_extra: int = 0,
) -> bytes:
    """Encodes records (Record-like: timestamp, key, value, headers) as one batch.

    Offset deltas are 0..n-1; ``base_timestamp`` defaults to the first record's
    timestamp and maxTimestamp is the largest record timestamp. ``attributes``
    are the codec bits ORed with ``attributes_extra`` (e.g. transactional).
    """
    fields = [_record_fields(r) for r in records]
    if not fields:
        raise ValueError("a record batch needs at least one record")
    if base_timestamp is None:
        base_timestamp = fields[0][0]
    max_ts = max(f[0] for f in fields)
    section = b"".join(
        encode_record(i, ts - base_timestamp, key, value, headers) for i, (ts, key, value, headers) in enumerate(fields)
    )
    return build_batch(
        base_offset,
        section,
        count=len(fields),
        base_timestamp=base_timestamp,
        max_timestamp=max_ts,
        compression=compression,
        partition_leader_epoch=partition_leader_epoch,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
        attributes_extra=attributes_extra,
    )


# ---------------------------------------------------------------------------
# Validation and decoding
# ---------------------------------------------------------------------------


class TornBatchError(CorruptRecordError):
    """The data ends inside a batch (a torn write), as opposed to bad bytes."""


def check_batch(buf: Any, pos: int = 0, *, deep: bool = True, position: int | None = None) -> BatchHeader:
    """Validates the batch at ``pos``: length, magic, CRC32C, counts.

    With ``deep``, the record lengths of an uncompressed batch must tile its
    records section exactly. Raises `CorruptRecordError` (`TornBatchError`
    when the data simply ends too early) naming the position and the reason;
    ``position`` is the byte position to report (default ``pos``), for a
    batch read out of a larger file.
    """
    n = len(buf)
    left = n - pos
    at = pos
    if position is not None:
        pos, at = position, pos
    if left < LOG_OVERHEAD:
        raise TornBatchError(f"batch at byte {pos}: {left} bytes left, less than a batch's offset and length fields")
    base_offset, length, _epoch, magic = _PREFIX.unpack_from(buf, at)
    if length < HEADER_LEN - LOG_OVERHEAD:
        raise CorruptRecordError(
            f"batch at byte {pos} (offset {base_offset}): batch length {length} is smaller than the {HEADER_LEN}-byte header"
        )
    size = length + LOG_OVERHEAD
    if left < HEADER_LEN:
        raise TornBatchError(f"batch at byte {pos} (offset {base_offset}): batch of {size} bytes but only {left} bytes left")
    if magic != 2:
        raise CorruptRecordError(
            f"batch at byte {pos} (offset {base_offset}): unsupported magic {magic} (only record batch v2 is supported)"
        )
    if left < size:
        raise TornBatchError(f"batch at byte {pos} (offset {base_offset}): batch of {size} bytes but only {left} bytes left")
    h = BatchHeader.parse(buf, at)
    computed = crc32c(memoryview(buf)[at + ATTRIBUTES_POS : at + size])
    if computed != h.crc:
        raise CorruptRecordError(
            f"batch at byte {pos} (offset {base_offset}): CRC32C mismatch: stored {h.crc:#010x}, computed {computed:#010x}"
        )
    if h.record_count < 0 or h.last_offset_delta < 0:
        raise CorruptRecordError(
            f"batch at byte {pos} (offset {base_offset}): negative record count {h.record_count} "
            f"or last offset delta {h.last_offset_delta}"
        )
    if h.record_count > h.last_offset_delta + 1:
        raise CorruptRecordError(
            f"batch at byte {pos} (offset {base_offset}): record count {h.record_count} "
            f"exceeds last offset delta {h.last_offset_delta} + 1"
        )
    if deep and not h.compression:
        p = at + HEADER_LEN
        end = at + size
        for i in range(h.record_count):
            try:
                rlen, p = decode_varint(buf, p)
            except CorruptRecordError:
                rlen = -1
            if rlen < 0 or p + rlen > end:
                raise CorruptRecordError(
                    f"batch at byte {pos} (offset {base_offset}): record {i} of {h.record_count} overruns the batch"
                )
            p += rlen
        if p != end:
            raise CorruptRecordError(
                f"batch at byte {pos} (offset {base_offset}): {end - p} trailing bytes after the "
                f"{h.record_count} records the header announces"
            )
    return h


def iter_batch_headers(buf: Any, *, validate: bool = True) -> Iterator[tuple[int, BatchHeader]]:
    """(position, header) of each batch in ``buf``; validates each when asked."""
    pos = 0
    n = len(buf)
    while pos < n:
        if validate:
            h = check_batch(buf, pos)
        else:
            if n - pos < HEADER_LEN:
                raise TornBatchError(f"batch at byte {pos}: only {n - pos} bytes left")
            h = BatchHeader.parse(buf, pos)
        yield pos, h
        pos += h.size


def _read_bytes(data: Any, pos: int) -> tuple[bytes | None, int]:
    n, pos = decode_varint(data, pos)
    if n < 0:
        return None, pos
    end = pos + n
    if end > len(data):
        raise CorruptRecordError("record field runs past the end of the record")
    return bytes(data[pos:end]), end


def decode_batch_records(buf: Any, pos: int, h: BatchHeader) -> list[Record]:
    """Records of the (already validated) batch at ``pos`` with header ``h``."""
    mv = memoryview(buf)
    section = mv[pos + HEADER_LEN : pos + h.size]
    data = decompress(h.compression, section) if h.compression else section
    out: list[Record] = []
    p = 0
    end = len(data)
    base_offset = h.base_offset
    base_ts = h.base_timestamp
    append_time = h.max_timestamp if h.log_append_time else None
    try:
        for _ in range(h.record_count):
            rlen, p = decode_varint(data, p)
            rend = p + rlen
            if rlen < 0 or rend > end:
                raise CorruptRecordError("record length overruns the records section")
            p += 1  # attributes
            ts_delta, p = decode_varlong(data, p)
            off_delta, p = decode_varint(data, p)
            key, p = _read_bytes(data, p)
            value, p = _read_bytes(data, p)
            nh, p = decode_varint(data, p)
            if nh < 0:
                raise CorruptRecordError(f"negative header count {nh}")
            headers = []
            for _h in range(nh):
                hk, p = _read_bytes(data, p)
                if hk is None:
                    raise CorruptRecordError("null header key")
                hv, p = _read_bytes(data, p)
                headers.append((hk.decode("utf-8", errors="replace"), hv))
            if p != rend:
                raise CorruptRecordError(f"record body is {rlen} bytes but its fields take {rlen - (rend - p)}")
            ts = append_time if append_time is not None else base_ts + ts_delta
            out.append(Record(base_offset + off_delta, ts, key, value, tuple(headers)))
    except CorruptRecordError as e:
        raise CorruptRecordError(f"batch at byte {pos} (offset {base_offset}): {e}") from None
    if p != end:
        raise CorruptRecordError(
            f"batch at byte {pos} (offset {base_offset}): {end - p} trailing bytes after "
            f"the {h.record_count} records the header announces"
        )
    return out


def decode_batches(buf: Any) -> Iterator[tuple[BatchHeader, list[Record]]]:
    """Yields ``(header, records)`` for each batch of ``buf`` (whole batches).

    Every batch is validated (length, magic, CRC32C, record count and
    framing); a bad one raises `CorruptRecordError` naming its byte position,
    offset and the reason.
    """
    for pos, h in iter_batch_headers(buf):
        yield h, decode_batch_records(buf, pos, h)


def decode_records(buf: Any) -> list[Record]:
    """All records of all batches in ``buf`` (control batches included)."""
    out: list[Record] = []
    for _h, recs in decode_batches(buf):
        out.extend(recs)
    return out
