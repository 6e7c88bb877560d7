"""Segments written by pystream parse with an independent Kafka record parser
(kafka-python), and batches built by kafka-python go in with append_raw."""

from __future__ import annotations

import types

import pytest

import log_files as H  # tests/storage/log_files.py
import pystream
from pystream import _core

kafka_records = pytest.importorskip("kafka.record.default_records")
from kafka import codec as kcodec  # noqa: E402
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder  # noqa: E402
from kafka.record.memory_records import MemoryRecords  # noqa: E402


Log = pystream.Log

CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


@pytest.fixture(autouse=True)
def snappy_for_kafka_python(monkeypatch):
    """kafka-python needs python-snappy; give it cramjam's raw snappy instead."""
    if not kcodec.has_snappy():
        cramjam = pytest.importorskip("cramjam")
        shim = types.SimpleNamespace(
            compress=lambda b: bytes(cramjam.snappy.compress_raw(bytes(b))),
            decompress=lambda b: bytes(cramjam.snappy.decompress_raw(bytes(b))),
        )
        monkeypatch.setattr(kcodec, "snappy", shim)


def kafka_parse(data: bytes) -> list[tuple[dict, list[tuple]]]:
    """(batch fields, records) for every batch in `data`, via kafka-python."""
    out = []
    mr = MemoryRecords(bytes(data))
    while mr.has_next():
        batch = mr.next_batch()
        assert isinstance(batch, DefaultRecordBatch)
        assert batch.validate_crc(), f"CRC of batch at offset {batch.base_offset}"
        fields = {
            "base_offset": batch.base_offset,
            "magic": batch.magic,
            "compression": batch.compression_type,
            "last_offset_delta": batch.last_offset_delta,
            "first_timestamp": batch.first_timestamp,
            "max_timestamp": batch.max_timestamp,
            "producer_id": batch.producer_id,
            "producer_epoch": batch.producer_epoch,
            "base_sequence": batch.base_sequence,
            "leader_epoch": batch.leader_epoch,
            "count": batch.records_count,
        }
        recs = [(r.offset, r.timestamp, r.key, r.value, tuple((k, v) for k, v in r.headers)) for r in batch]
        out.append((fields, recs))
    assert mr.valid_bytes() == len(data) if hasattr(mr, "valid_bytes") else True
    return out


def sample_records(n: int):
    for i in range(n):
        key = None if i % 5 == 0 else (b"" if i % 5 == 1 else b"key-%d" % i)
        value = None if i % 11 == 3 else (b"value-%d-" % i) * (i % 9)
        headers = [] if i % 3 else [("h%d" % i, b"x" * (i % 4)), ("n", None)] if i % 2 else [("only", b"")]
        ts = 1_700_000_000_000 + (i * 37) % 1000 - 500  # not monotonic
        yield ts, key, value, headers


@pytest.mark.parametrize("compression", list(CODECS))
def test_pystream_segments_parse_with_kafka_python(tmp_path, compression):
    d = tmp_path / f"c-{compression}"
    log = Log.open(d, segment_bytes=6000, batch_size=700, index_interval_bytes=300, compression_type=compression)
    model = []
    for ts, key, value, headers in sample_records(400):
        off = log.append(value, key=key, headers=headers, timestamp_ms=ts)
        model.append((off, ts, key, value, tuple(headers)))
    first = log.append_batch([b"b%d" % i for i in range(50)], keys=[b"k"] * 50, timestamp_ms=1_700_000_001_000)
    model += [(first + i, 1_700_000_001_000, b"k", b"b%d" % i, ()) for i in range(50)]
    log.close()
    bases = H.segment_bases(d)
    assert len(bases) > 1
    got = []
    batches = 0
    for base in bases:
        parsed = kafka_parse((d / H.seg_name(base, "log")).read_bytes())
        assert parsed[0][0]["base_offset"] == base
        for fields, recs in parsed:
            batches += 1
            assert fields["magic"] == 2
            assert fields["compression"] == CODECS[compression]
            assert fields["count"] == len(recs) == fields["last_offset_delta"] + 1
            assert fields["first_timestamp"] == recs[0][1]
            assert fields["max_timestamp"] == max(r[1] for r in recs)
            assert (fields["producer_id"], fields["producer_epoch"], fields["base_sequence"]) == (-1, -1, -1)
            assert fields["leader_epoch"] == 0
            assert [r[0] for r in recs] == list(range(fields["base_offset"], fields["base_offset"] + len(recs)))
            got += recs
    assert batches > 5
    assert [r[0] for r in got] == list(range(len(model)))
    assert got == model


@pytest.mark.parametrize("compression", list(CODECS))
def test_kafka_python_batches_append_raw(tmp_path, compression):
    d = tmp_path / f"k-{compression}"
    log = Log.open(d, segment_bytes=5000)
    model = []
    wire = b""
    # compressible values: kafka-python sends a batch uncompressed when compression does not pay
    recs = [(ts, k, None if v is None else v + b"z" * 200, h) for ts, k, v, h in sample_records(120)]
    for start in range(0, len(recs), 17):
        b = DefaultRecordBatchBuilder(
            magic=2, compression_type=CODECS[compression], is_transactional=False,
            producer_id=-1, producer_epoch=-1, base_sequence=-1, batch_size=1 << 20,
        )
        for i, (ts, key, value, headers) in enumerate(recs[start : start + 17]):
            # kafka-python's builder takes header values as bytes
            b.append(i, timestamp=ts, key=key, value=value, headers=[(k, v) for k, v in headers])
        built = bytes(b.build())
        hdr = _core.batch_headers(built)[0]
        assert hdr["compression"] == CODECS[compression]
        base = log.end_offset
        if start % 2:
            wire += built  # several batches in one call, too
            continue
        if wire:
            first = log.append_raw(wire)
            n_before = len(model)
            for fields, rs in kafka_parse(wire):
                model += [(n_before + j, *r[1:]) for j, r in enumerate(rs)]
                n_before += len(rs)
            assert first == base
            base = log.end_offset
            wire = b""
        assert log.append_raw(built) == base
        model += [(base + j, *r[1:]) for j, r in enumerate(kafka_parse(built)[0][1])]
    if wire:
        n_before = len(model)
        log.append_raw(wire)
        for fields, rs in kafka_parse(wire):
            model += [(n_before + j, *r[1:]) for j, r in enumerate(rs)]
            n_before += len(rs)
    assert len(model) == len(recs)
    expect = [(j, ts, key, value, tuple(headers)) for j, (ts, key, value, headers) in enumerate(recs)]
    assert model == expect
    assert log.records(0) == expect
    cols = log.read_columns(0)
    assert [(int(cols.offsets[i]), int(cols.timestamps[i]), cols.key(i), cols.value(i)) for i in range(len(cols))] == [
        e[:4] for e in expect
    ]
    # offsets were assigned in place: what a fetch returns parses again, CRCs still valid
    assert [r for _, rs in kafka_parse(bytes(log.read(0, max_bytes=1 << 30))) for r in rs][: len(expect)] == expect[
        : len([r for _, rs in kafka_parse(bytes(log.read(0, max_bytes=1 << 30))) for r in rs])
    ]
    for t in (expect[0][1], expect[50][1], max(e[1] for e in expect)):
        assert log.offset_for_timestamp(t) == next(e[0] for e in expect if e[1] >= t)
    log.close()
    # and after a reopen, the files parse with kafka-python end to end
    got = [r for base in H.segment_bases(d) for _, rs in kafka_parse((d / H.seg_name(base, "log")).read_bytes()) for r in rs]
    assert got == expect


def test_pystream_encode_batch_parses_with_kafka_python():
    recs = list(sample_records(60))
    for name, cid in CODECS.items():
        data = _core.encode_batch(recs, base_offset=12345, compression_type=name, partition_leader_epoch=9)
        (fields, parsed), = kafka_parse(data)
        assert fields["compression"] == cid and fields["leader_epoch"] == 9 and fields["base_offset"] == 12345
        assert parsed == [(12345 + i, ts, k, v, tuple(h)) for i, (ts, k, v, h) in enumerate(recs)]
