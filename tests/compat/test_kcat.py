"""kcat (librdkafka's command-line client) against a real `pystream serve` process."""

from __future__ import annotations

import subprocess

import pytest
from compat_helpers import kcat_path, unique_topic

from pystream import _core

COMPRESSIONS = ["gzip", "snappy", "lz4", "zstd"]
CODEC_IDS = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
TIMEOUT = 30


def kcat(bootstrap: str, *args: str, stdin: bytes | None = None) -> bytes:
    cmd = [kcat_path(), "-b", bootstrap, "-X", "socket.timeout.ms=10000", "-X", "message.timeout.ms=20000", *args]
    res = subprocess.run(cmd, input=stdin, capture_output=True, timeout=TIMEOUT)
    assert res.returncode == 0, f"{cmd} exited {res.returncode}: {res.stderr.decode(errors='replace')[-2000:]}"
    return res.stdout


def consume(bootstrap: str, topic: str, fmt: str = "%k|%s|%h|%o\\n") -> list[str]:
    out = kcat(bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", fmt)
    return out.decode().splitlines()


def test_round_trip_keys_headers(module_broker):
    topic = unique_topic("kc-rt")
    lines = [f"key{i}:value {i}" for i in range(100)]
    kcat(module_broker.bootstrap, "-P", "-t", topic, "-K", ":", "-H", "h1=one", "-H", "h2=two",
         stdin=("\n".join(lines) + "\n").encode())
    got = consume(module_broker.bootstrap, topic)
    assert got == [f"key{i}|value {i}|h1=one,h2=two|{i}" for i in range(100)]


def test_round_trip_seen_by_confluent(module_broker):
    """Keys and headers written by kcat are the same bytes for another client."""
    from confluent_kafka import Consumer

    topic = unique_topic("kc-x")
    kcat(module_broker.bootstrap, "-P", "-t", topic, "-K", "\t", "-H", "trace=abc",
         stdin=b"k1\tv1\nk2\tv2\n")
    c = Consumer({"bootstrap.servers": module_broker.bootstrap, "group.id": unique_topic("g"),
                  "auto.offset.reset": "earliest"})
    try:
        c.subscribe([topic])
        msgs = []
        for _ in range(60):
            m = c.poll(0.5)
            if m is not None:
                assert m.error() is None, m.error()
                msgs.append(m)
            if len(msgs) == 2:
                break
    finally:
        c.close()
    assert [(m.key(), m.value(), m.headers()) for m in msgs] == [
        (b"k1", b"v1", [("trace", b"abc")]), (b"k2", b"v2", [("trace", b"abc")])]


@pytest.mark.parametrize("codec", COMPRESSIONS)
def test_compression(module_broker, codec):
    topic = unique_topic(f"kc-{codec}")
    lines = [f"k{i}:" + f"payload {i} " * 20 for i in range(500)]
    kcat(module_broker.bootstrap, "-P", "-t", topic, "-K", ":", "-X", f"compression.codec={codec}", "-X", "linger.ms=50",
         "-H", f"codec={codec}", stdin=("\n".join(lines) + "\n").encode())
    got = consume(module_broker.bootstrap, topic)
    assert got == [f"k{i}|" + f"payload {i} " * 20 + f"|codec={codec}|{i}" for i in range(500)]




@pytest.mark.parametrize("codec", COMPRESSIONS)
def test_batches_stored_as_compressed(module_broker, codec):
    """The broker stores the producer's compressed batches as they came (compression.type=producer)."""
    topic = unique_topic(f"kcz-{codec}")
    lines = [f"k{i}:" + f"payload {i} " * 20 for i in range(200)]
    cmd = [kcat_path(), "-b", module_broker.bootstrap, "-P", "-t", topic, "-K", ":", "-X", f"compression.codec={codec}",
           "-X", "linger.ms=50", "-X", "message.timeout.ms=20000", "-d", "msg"]
    res = subprocess.run(cmd, input=("\n".join(lines) + "\n").encode(), capture_output=True, timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr.decode(errors="replace")[-2000:]
    # librdkafka 2.0 (Debian's kcat) compresses only when the broker advertises Produce v0.
    assert b"Broker does not support compression type" not in res.stderr
    segment = module_broker.data_dir / f"{topic}-0" / ("0" * 20 + ".log")
    headers = _core.batch_headers(segment.read_bytes())
    assert headers and {h["compression"] for h in headers} == {CODEC_IDS[codec]}
