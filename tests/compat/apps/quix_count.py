"""A Quix Streams application with default settings (at-least-once, changelog topics):
counts the records of each key in tumbling windows of an hour and writes the running
count to an output topic. Run by test_quixstreams_compaction.py.

usage: quix_count.py BOOTSTRAP INPUT OUTPUT STATE_DIR GROUP
"""

import sys

from quixstreams import Application


def main() -> None:
    bootstrap, source, sink, state_dir, group = sys.argv[1:6]
    app = Application(broker_address=bootstrap, consumer_group=group, auto_offset_reset="earliest", state_dir=state_dir)
    words = app.topic(source, key_deserializer="str", value_deserializer="json")
    counts = app.topic(sink, key_serializer="str", value_serializer="json")
    sdf = app.dataframe(words)
    sdf = sdf.tumbling_window(duration_ms=3_600_000).count().current()
    sdf.to_topic(counts)
    app.run()


if __name__ == "__main__":
    main()
