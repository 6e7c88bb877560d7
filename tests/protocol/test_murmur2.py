"""Kafka's default-partitioner hash against the Java client's test vectors."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystream.protocol.murmur2 import murmur2, partition_for_key, to_positive

# org.apache.kafka.common.utils.UtilsTest#testMurmur2 and values computed by
# the Java Utils.murmur2 (as quoted by other Kafka clients' test suites).
JAVA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
    b"1": -1993445489,
    b"12": 126087238,
    b"123": -267702483,
    b"1234": -1614185708,
    b"12345": -1188365604,
}


@pytest.mark.parametrize(("data", "expected"), sorted(JAVA_VECTORS.items()))
def test_java_vectors(data, expected):
    assert murmur2(data) == expected


def test_accepts_bytes_like():
    assert murmur2(bytearray(b"foobar")) == murmur2(memoryview(b"foobar")) == -790332482


def test_empty_and_result_range():
    assert -(2**31) <= murmur2(b"") < 2**31


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_matches_kafka_python(data):
    from kafka.partitioner.default import murmur2 as kp_murmur2

    # kafka-python returns the unsigned 32-bit pattern of the same hash
    assert murmur2(data) & 0xFFFFFFFF == kp_murmur2(data) & 0xFFFFFFFF


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=32), st.integers(min_value=1, max_value=1000))
def test_partition_for_key_matches_kafka_python(key, n):
    from kafka.partitioner.default import murmur2 as kp_murmur2

    p = partition_for_key(key, n)
    assert 0 <= p < n
    assert p == (kp_murmur2(key) & 0x7FFFFFFF) % n


def test_partition_for_key_rule():
    assert partition_for_key(b"foobar", 7) == to_positive(-790332482) % 7
    with pytest.raises(ValueError):
        partition_for_key(b"x", 0)
