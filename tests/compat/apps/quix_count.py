"""A Quix Streams application with default settings (at-least-once, changelog topics):
counts the records of each key in tumbling windows of an hour and writes the running
count to an output topic. Run by test_quixstreams_compaction.py and (exactly-once)
test_stream_processing.py.

usage: quix_count.py BOOTSTRAP INPUT OUTPUT STATE_DIR GROUP [GUARANTEE]

GUARANTEE: Quix's processing_guarantee (default at-least-once). The exactly-once test
kills the application and wants that noticed quickly: with a guarantee given, a short
consumer session, and a short transaction timeout (Quix draws a new transactional.id per
start, so a restarted instance cannot fence the killed one: the broker aborts its open
transaction after transaction.timeout.ms, 60 s by default, and read_committed readers wait
until then).
"""

import sys

from quixstreams import Application


def main() -> None:
    bootstrap, source, sink, state_dir, group = sys.argv[1:6]
    extra = {}
    if len(sys.argv) > 6:
        extra = {"processing_guarantee": sys.argv[6], "consumer_extra_config": {"session.timeout.ms": 6000},
                 "producer_extra_config": {"transaction.timeout.ms": 10000}}
    app = Application(broker_address=bootstrap, consumer_group=group, auto_offset_reset="earliest", state_dir=state_dir,
                      **extra)
    words = app.topic(source, key_deserializer="str", value_deserializer="json")
    counts = app.topic(sink, key_serializer="str", value_serializer="json")
    sdf = app.dataframe(words)
    sdf = sdf.tumbling_window(duration_ms=3_600_000).count().current()
    sdf.to_topic(counts)
    app.run()


if __name__ == "__main__":
    main()
