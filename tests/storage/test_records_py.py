"""The pure-Python RecordBatch v2 codec (pystream.storage.records)."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pystream.errors import CorruptRecordError
from pystream.storage import records as R
from pystream.storage.records import (
    HEADER_LEN,
    BatchHeader,
    Record,
    check_batch,
    crc32c,
    decode_batches,
    decode_varint,
    decode_varlong,
    encode_batch,
    encode_varint,
    encode_varlong,
)


def _available(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


CODECS = [0, 1] + [c for c, m in ((2, "cramjam"), (3, "lz4.frame"), (4, "zstandard")) if _available(m)]

# --------------------------------------------------------------------------- varints


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, b"\x00"), (-1, b"\x01"), (1, b"\x02"), (63, b"\x7e"), (-64, b"\x7f"), (64, b"\x80\x01"), (-65, b"\x81\x01"),
     (2**31 - 1, b"\xfe\xff\xff\xff\x0f"), (-(2**31), b"\xff\xff\xff\xff\x0f")],
)
def test_varint_known_encodings(value, encoded):
    assert encode_varint(value) == encoded
    assert decode_varint(encoded) == (value, len(encoded))
    assert encode_varlong(value) == encoded


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_varlong_round_trip(v):
    enc = encode_varlong(v)
    assert len(enc) <= 10
    assert decode_varlong(b"\xaa" + enc + b"\xbb", 1) == (v, 1 + len(enc))


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_varint_round_trip(v):
    enc = encode_varint(v)
    assert decode_varint(enc) == (v, len(enc))
    assert encode_varlong(v) == enc  # zig-zag is width independent in range


def test_varint_limits_and_errors():
    with pytest.raises(OverflowError):
        encode_varint(2**31)
    with pytest.raises(OverflowError):
        encode_varlong(-(2**63) - 1)
    with pytest.raises(CorruptRecordError):
        decode_varint(b"\x80\x80")  # runs past the end
    with pytest.raises(CorruptRecordError):
        decode_varint(b"\xff\xff\xff\xff\xff\x01")  # too long for 32 bits


# --------------------------------------------------------------------------- CRC32C


def test_crc32c_check_value():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=300))
def test_crc32c_pure_python_matches_kafka_python(data):
    from kafka.record._crc32c import crc as kp_crc

    assert R._crc32c_py(data) == kp_crc(data) == crc32c(data)


def test_crc32c_accepts_memoryview_and_continues():
    data = os.urandom(1000)
    assert crc32c(memoryview(data)) == crc32c(bytearray(data))
    assert R._crc32c_py(data[500:], R._crc32c_py(data[:500])) == crc32c(data)


# --------------------------------------------------------------------------- batches

header_st = st.tuples(st.text(max_size=8), st.one_of(st.none(), st.binary(max_size=8)))
record_st = st.tuples(
    st.integers(min_value=0, max_value=2**41),
    st.one_of(st.none(), st.binary(max_size=40)),
    st.one_of(st.none(), st.binary(max_size=200)),
    st.lists(header_st, max_size=3).map(tuple),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=0, max_value=2**40),
    st.lists(record_st, min_size=1, max_size=12),
    st.sampled_from(CODECS),
)
def test_round_trip(base_offset, recs, codec):
    buf = encode_batch(base_offset, recs, compression=codec)
    [(h, out)] = list(decode_batches(buf))
    assert h.base_offset == base_offset
    assert h.size == len(buf)
    assert h.magic == 2 and h.compression == codec
    assert h.record_count == len(recs) and h.last_offset_delta == len(recs) - 1
    assert h.base_timestamp == recs[0][0]
    assert h.max_timestamp == max(r[0] for r in recs)
    assert (h.partition_leader_epoch, h.producer_id, h.producer_epoch, h.base_sequence) == (0, -1, -1, -1)
    assert out == [Record(base_offset + i, ts, k, v, hs) for i, (ts, k, v, hs) in enumerate(recs)]
    check_batch(buf)


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip_large_and_kafka_python_parses(codec):
    from kafka.record.memory_records import MemoryRecords

    recs = [(1_700_000_000_000 + i, b"key-%d" % i, os.urandom(50) * (i % 40), (("h", b"v"), ("n", None))) for i in range(300)]
    buf = encode_batch(42, recs, compression=codec) + encode_batch(342, recs[:3], compression=codec)
    decoded = [r for _, rs in decode_batches(buf) for r in rs]
    assert [r.offset for r in decoded] == list(range(42, 345))
    assert [(r.timestamp, r.key, r.value, r.headers) for r in decoded[:300]] == [
        (ts, k, v, hs) for ts, k, v, hs in recs
    ]
    if codec == 2:
        from kafka.codec import has_snappy

        if not has_snappy():
            pytest.skip("kafka-python cannot decode snappy without python-snappy")
    mr = MemoryRecords(buf)
    seen = []
    while (batch := mr.next_batch()) is not None:
        assert batch.validate_crc()
        assert batch.compression_type == codec
        for r in batch:
            seen.append((r.offset, r.timestamp, r.key, r.value, [tuple(x) for x in r.headers]))
    assert seen == [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in decoded]


@pytest.mark.parametrize("codec", [c for c in CODECS if c != 2])
def test_decodes_kafka_python_batches(codec):
    from kafka.record.default_records import DefaultRecordBatchBuilder

    b = DefaultRecordBatchBuilder(
        magic=2, compression_type=codec, is_transactional=False, producer_id=-1, producer_epoch=-1, base_sequence=-1,
        batch_size=1 << 20,
    )
    for i in range(20):
        b.append(i, timestamp=5000 + i, key=None if i % 2 else b"k%d" % i, value=b"v" * i, headers=[("a", b"b")])
    buf = bytes(b.build())
    [(h, out)] = list(decode_batches(buf))
    assert h.compression == codec and h.record_count == 20
    assert out == [Record(i, 5000 + i, None if i % 2 else b"k%d" % i, b"v" * i, (("a", b"b"),)) for i in range(20)]


def test_header_fields_and_attributes():
    buf = encode_batch(
        10,
        [Record(0, 100, b"k", b"v", ()), (90, None, b"x", None)],
        base_timestamp=80,
        partition_leader_epoch=7,
        producer_id=1234,
        producer_epoch=3,
        base_sequence=55,
        attributes_extra=R.ATTR_TRANSACTIONAL,
    )
    h = BatchHeader.parse(buf)
    assert h.pack() == buf[:HEADER_LEN]
    assert (h.partition_leader_epoch, h.producer_id, h.producer_epoch, h.base_sequence) == (7, 1234, 3, 55)
    assert h.base_timestamp == 80 and h.max_timestamp == 100
    assert h.is_transactional and not h.is_control and not h.log_append_time
    assert h.last_offset == 11 and h.next_offset == 12
    [(_, out)] = list(decode_batches(buf))
    assert [(r.offset, r.timestamp) for r in out] == [(10, 100), (11, 90)]


def test_log_append_time_gives_max_timestamp():
    buf = encode_batch(0, [(5, None, b"a", None), (9, None, b"b", None)], attributes_extra=R.ATTR_LOG_APPEND_TIME)
    [(h, out)] = list(decode_batches(buf))
    assert h.log_append_time
    assert [r.timestamp for r in out] == [9, 9]


def test_empty_batch_rejected_and_bad_codec():
    with pytest.raises(ValueError):
        encode_batch(0, [])
    with pytest.raises(ValueError):
        encode_batch(0, [(0, None, b"x", None)], compression="brotli")
    assert R.codec_id("ZSTD") == 4 and R.codec_id(None) == 0


# --------------------------------------------------------------------------- compression framing


@pytest.mark.skipif(not _available("cramjam"), reason="cramjam not installed")
def test_snappy_xerial_and_raw_both_decode():
    import cramjam

    data = os.urandom(100) * 1000  # > one 32 KiB xerial block
    framed = R.compress(2, data)
    assert framed.startswith(b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01")
    assert R.decompress(2, framed) == data
    assert R.decompress(2, bytes(cramjam.snappy.compress_raw(data))) == data


def test_gzip_accepts_zlib_stream():
    import zlib

    assert R.decompress(1, zlib.compress(b"hello" * 10)) == b"hello" * 10


@pytest.mark.parametrize("codec", [c for c in CODECS if c])
def test_bad_compressed_data_is_corrupt(codec):
    with pytest.raises(CorruptRecordError):
        R.decompress(codec, b"\x00\x01\x02garbage-garbage")


def test_missing_codec_module_names_the_package(monkeypatch):
    import importlib

    real = importlib.import_module

    def fake_import_module(name, *a, **k):
        if name.startswith(("cramjam", "lz4", "zstandard")):
            raise ImportError(f"No module named {name!r}")
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", fake_import_module)
    for codec, package in ((2, "cramjam"), (3, "lz4"), (4, "zstandard")):
        with pytest.raises(ImportError, match=f"pip install {package}"):
            R.compress(codec, b"data")
        with pytest.raises(ImportError, match=package):
            R.decompress(codec, b"data")


# --------------------------------------------------------------------------- corruption


def _batch(n=3, base=100):
    return encode_batch(base, [(1000 + i, b"k", b"value-%d" % i, ()) for i in range(n)])


def _refresh_crc(buf: bytearray) -> bytearray:
    struct.pack_into(">I", buf, 17, crc32c(bytes(buf[21:])))
    return buf


def test_bad_crc():
    buf = bytearray(_batch())
    buf[-1] ^= 0xFF
    with pytest.raises(CorruptRecordError, match=r"byte 0 \(offset 100\).*CRC32C mismatch"):
        list(decode_batches(bytes(buf)))


def test_bad_crc_in_second_batch_names_its_position():
    first = _batch()
    second = bytearray(_batch(base=103))
    second[30] ^= 0x01
    with pytest.raises(CorruptRecordError, match=rf"byte {len(first)} \(offset 103\).*CRC32C"):
        list(decode_batches(first + bytes(second)))


def test_bad_magic():
    buf = bytearray(_batch())
    buf[16] = 1
    with pytest.raises(CorruptRecordError, match="magic 1"):
        list(decode_batches(bytes(buf)))


def test_bad_lengths():
    good = _batch()
    with pytest.raises(CorruptRecordError, match="bytes left"):
        list(decode_batches(good[:-1]))  # torn
    with pytest.raises(R.TornBatchError):
        check_batch(good[:8])
    small = bytearray(good)
    struct.pack_into(">i", small, 8, 10)
    with pytest.raises(CorruptRecordError, match="smaller than"):
        list(decode_batches(bytes(small)))
    longer = bytearray(good)
    struct.pack_into(">i", longer, 8, len(good))  # claims 12 more bytes than present
    with pytest.raises(CorruptRecordError):
        list(decode_batches(bytes(longer)))


def test_record_count_mismatch():
    buf = bytearray(_batch(3))
    struct.pack_into(">i", buf, 57, 2)  # fewer records than the data holds
    with pytest.raises(CorruptRecordError, match="trailing bytes"):
        list(decode_batches(bytes(_refresh_crc(buf))))
    buf = bytearray(_batch(3))
    struct.pack_into(">i", buf, 57, 4)  # more records than the data holds (and > lastOffsetDelta + 1)
    with pytest.raises(CorruptRecordError, match="record count"):
        list(decode_batches(bytes(_refresh_crc(buf))))
    buf = bytearray(_batch(3))
    struct.pack_into(">i", buf, 23, 5)  # lastOffsetDelta 5 allows 4 records; only 3 are there
    struct.pack_into(">i", buf, 57, 4)
    with pytest.raises(CorruptRecordError, match="overruns"):
        list(decode_batches(bytes(_refresh_crc(buf))))


def test_corrupt_errors_are_value_errors():
    buf = bytearray(_batch())
    buf[-1] ^= 1
    with pytest.raises(ValueError):
        list(decode_batches(bytes(buf)))
