"""A Faust application with default settings (at-least-once, an in-memory Table whose
state lives in its changelog topic): an agent counts the records of each key and
writes the running count to an output topic. Run by test_faust_compaction.py.

usage: faust_count.py BOOTSTRAP INPUT OUTPUT DATA_DIR worker [faust worker options, e.g. --web-port N]
"""

import sys

import faust

bootstrap, source, sink, data_dir = sys.argv[1:5]
sys.argv = [sys.argv[0], *sys.argv[5:]]  # what remains is Faust's command line

app = faust.App("faust-counter", broker=f"kafka://{bootstrap}", datadir=data_dir)
words = app.topic(source, key_type=str, value_type=bytes, value_serializer="raw")
out = app.topic(sink, key_type=str, value_type=int)
counts = app.Table("word-counts", default=int, key_type=str, value_type=int)


@app.agent(words)
async def count(stream):
    async for word, _value in stream.items():
        counts[word] += 1
        await out.send(key=word, value=counts[word])


if __name__ == "__main__":
    app.main()
