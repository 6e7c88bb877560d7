"""librdkafka admin calls the confluent-kafka binding does not expose, through ctypes on the
librdkafka the binding ships (the same C client, called directly).

Only `delete_consumer_group_offsets` (rd_kafka_DeleteConsumerGroupOffsets, OffsetDelete on the
wire) for now. Every call is bounded by its timeout.
"""

from __future__ import annotations

import ctypes
import glob
import os

import confluent_kafka
from compat_helpers import RawClient

_RD_KAFKA_PRODUCER = 0


class _TopicPartition(ctypes.Structure):
    _fields_ = [("topic", ctypes.c_char_p), ("partition", ctypes.c_int32), ("offset", ctypes.c_int64),
                ("metadata", ctypes.c_void_p), ("metadata_size", ctypes.c_size_t), ("opaque", ctypes.c_void_p),
                ("err", ctypes.c_int), ("_private", ctypes.c_void_p)]


class _TopicPartitionList(ctypes.Structure):
    _fields_ = [("cnt", ctypes.c_int), ("size", ctypes.c_int), ("elems", ctypes.POINTER(_TopicPartition))]


def _library() -> ctypes.CDLL:
    base = os.path.dirname(confluent_kafka.__file__)
    found = sorted(glob.glob(os.path.join(base, "..", "confluent_kafka.libs", "librdkafka*.so*")))
    lib = ctypes.CDLL(found[0] if found else "librdkafka.so.1")
    vp, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
    sigs = {
        "rd_kafka_conf_new": ([], vp),
        "rd_kafka_conf_set": ([vp, cp, cp, cp, sz], ctypes.c_int),
        "rd_kafka_new": ([ctypes.c_int, vp, cp, sz], vp),
        "rd_kafka_destroy": ([vp], None),
        "rd_kafka_queue_new": ([vp], vp),
        "rd_kafka_queue_destroy": ([vp], None),
        "rd_kafka_queue_poll": ([vp, ctypes.c_int], vp),
        "rd_kafka_topic_partition_list_new": ([ctypes.c_int], ctypes.POINTER(_TopicPartitionList)),
        "rd_kafka_topic_partition_list_add": ([ctypes.POINTER(_TopicPartitionList), cp, ctypes.c_int32], vp),
        "rd_kafka_topic_partition_list_destroy": ([ctypes.POINTER(_TopicPartitionList)], None),
        "rd_kafka_DeleteConsumerGroupOffsets_new": ([cp, ctypes.POINTER(_TopicPartitionList)], vp),
        "rd_kafka_DeleteConsumerGroupOffsets_destroy": ([vp], None),
        "rd_kafka_DeleteConsumerGroupOffsets": ([vp, ctypes.POINTER(vp), sz, vp, vp], None),
        "rd_kafka_event_error": ([vp], ctypes.c_int),
        "rd_kafka_event_error_string": ([vp], cp),
        "rd_kafka_event_destroy": ([vp], None),
        "rd_kafka_event_DeleteConsumerGroupOffsets_result": ([vp], vp),
        "rd_kafka_DeleteConsumerGroupOffsets_result_groups": ([vp, ctypes.POINTER(sz)], ctypes.POINTER(vp)),
        "rd_kafka_group_result_error": ([vp], vp),
        "rd_kafka_error_code": ([vp], ctypes.c_int),
        "rd_kafka_group_result_partitions": ([vp], ctypes.POINTER(_TopicPartitionList)),
    }
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res
    return lib


def delete_consumer_group_offsets(bootstrap: str, group: str, partitions: list[tuple[str, int]],
                                  timeout_s: float = 20.0) -> dict:
    """librdkafka's DeleteConsumerGroupOffsets: {(topic, partition): error code} or, when the
    request failed as a whole, {None: error code}."""
    host, port = bootstrap.rsplit(":", 1)
    with RawClient(host, int(port)) as raw:
        keys = {k["api_key"] for k in raw.request(18, 0, {})["api_keys"]}
    # librdkafka 2.16 aborts the process when the broker lacks the API: fail the test instead.
    assert 47 in keys, "the broker does not advertise OffsetDelete (API 47)"
    lib = _library()
    errstr = ctypes.create_string_buffer(512)
    conf = lib.rd_kafka_conf_new()
    for k, v in (("bootstrap.servers", bootstrap), ("socket.timeout.ms", str(int(timeout_s * 1000)))):
        if lib.rd_kafka_conf_set(conf, k.encode(), v.encode(), errstr, 512) != 0:
            raise RuntimeError(errstr.value.decode())
    rk = lib.rd_kafka_new(_RD_KAFKA_PRODUCER, conf, errstr, 512)
    if not rk:
        raise RuntimeError(errstr.value.decode())
    q = lib.rd_kafka_queue_new(rk)
    tpl = lib.rd_kafka_topic_partition_list_new(len(partitions))
    try:
        for topic, p in partitions:
            lib.rd_kafka_topic_partition_list_add(tpl, topic.encode(), p)
        req = ctypes.c_void_p(lib.rd_kafka_DeleteConsumerGroupOffsets_new(group.encode(), tpl))
        lib.rd_kafka_DeleteConsumerGroupOffsets(rk, ctypes.byref(req), 1, None, q)
        lib.rd_kafka_DeleteConsumerGroupOffsets_destroy(req)
        ev = lib.rd_kafka_queue_poll(q, int(timeout_s * 1000))
        if not ev:
            raise TimeoutError(f"DeleteConsumerGroupOffsets gave no result within {timeout_s}s")
        try:
            if lib.rd_kafka_event_error(ev):
                return {None: lib.rd_kafka_event_error(ev)}
            res = lib.rd_kafka_event_DeleteConsumerGroupOffsets_result(ev)
            n = ctypes.c_size_t()
            groups = lib.rd_kafka_DeleteConsumerGroupOffsets_result_groups(res, ctypes.byref(n))
            assert n.value == 1, n.value
            err = lib.rd_kafka_group_result_error(groups[0])
            if err:
                return {None: lib.rd_kafka_error_code(err)}
            parts = lib.rd_kafka_group_result_partitions(groups[0]).contents
            return {(parts.elems[i].topic.decode(), parts.elems[i].partition): parts.elems[i].err
                    for i in range(parts.cnt)}
        finally:
            lib.rd_kafka_event_destroy(ev)
    finally:
        lib.rd_kafka_topic_partition_list_destroy(tpl)
        lib.rd_kafka_queue_destroy(q)
        lib.rd_kafka_destroy(rk)
