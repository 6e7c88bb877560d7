"""A Faust application: an agent counting words into a Table (the docs' example).

    python faust_table_count.py BOOTSTRAP APP_ID DATA_DIR INPUT GUARANTEE

Default settings (a changelog topic behind the table) but for the processing guarantee,
given on the command line, and a short consumer session so a killed worker leaves its
group quickly. The table's changelog topic is ``<APP_ID>-counts-changelog``.
"""

import sys

import faust

bootstrap, app_id, data_dir, source, guarantee = sys.argv[1:6]
app = faust.App(app_id, broker=f"kafka://{bootstrap}", store="memory://", datadir=data_dir, processing_guarantee=guarantee,
                topic_partitions=1, web_enabled=False, broker_session_timeout=6, broker_heartbeat_interval=1)
words = app.topic(source, key_type=str, value_type=str)
counts = app.Table("counts", default=int, partitions=1)


@app.agent(words)
async def count(stream):
    async for word in stream:
        counts[word] += 1


if __name__ == "__main__":
    sys.argv = [sys.argv[0], "worker", "--loglevel", "info"]
    app.main()
