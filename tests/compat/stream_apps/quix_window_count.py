"""A Quix Streams application: a stateful tumbling-window count per key (the docs' example).

    python quix_window_count.py BOOTSTRAP GROUP STATE_DIR INPUT OUTPUT GUARANTEE

Default settings (changelog topics on) but for the processing guarantee, given on the
command line, and short timeouts so a killed instance is noticed quickly: its consumer
session, and its open transaction (Quix Streams draws a new transactional.id per start, so
the restarted instance cannot fence the old one: the broker aborts it after
transaction.timeout.ms, 60 s by default, and read_committed readers wait until then).
"""

import sys
from datetime import timedelta

from quixstreams import Application

bootstrap, group, state_dir, source, sink, guarantee = sys.argv[1:7]
app = Application(broker_address=bootstrap, consumer_group=group, auto_offset_reset="earliest", state_dir=state_dir,
                  processing_guarantee=guarantee, consumer_extra_config={"session.timeout.ms": 6000},
                  producer_extra_config={"transaction.timeout.ms": 10000})
words = app.topic(source, key_deserializer="str", value_deserializer="json")
counts = app.topic(sink, key_serializer="str", value_serializer="json")
sdf = app.dataframe(words)
sdf = sdf.tumbling_window(timedelta(hours=1)).count().current()  # one update per input record
sdf = sdf.apply(lambda window: {"start": window["start"], "count": window["value"]})
sdf.to_topic(counts)
app.run()
