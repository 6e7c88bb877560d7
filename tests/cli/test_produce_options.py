"""`pystream produce`: illegal topic names, headers, kafka-console-producer's --property reader, idempotence."""

from __future__ import annotations

import pytest
from cli_helpers import cli, unique

from pystream._core import batch_headers, decode_records, encode_batch
from pystream.protocol.client import KafkaClient, KafkaError
from pystream.tools import ToolError
from pystream.tools.produce import LineFormat, stamp_producer


def _ok(result) -> list[str]:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_produce_to_an_illegal_topic_name_says_invalid_topic(bootstrap: str, client: KafkaClient) -> None:
    r = cli(bootstrap, "produce", "bad name!", input="x\n")
    assert r.exit_code == 1
    assert "INVALID_TOPIC_EXCEPTION (17)" in r.stderr and "'bad name!'" in r.stderr
    # The broker answers so whether or not the request allows auto-creation (Kafka's Metadata).
    for allow in (True, False):
        (t,) = client.metadata(["bad name!"], allow_auto_topic_creation=allow)["topics"]
        assert t["error_code"] == 17
    (t,) = client.metadata([unique("legal-but-absent")], allow_auto_topic_creation=False)["topics"]
    assert t["error_code"] == 3


def test_produce_headers_and_console_producer_properties(bootstrap: str) -> None:
    topic = unique("props")
    assert cli(bootstrap, "topics", "create", topic, "-p", "1").exit_code == 0
    r = cli(bootstrap, "produce", topic, "--property", "parse.key=true,key.separator=:", "--header", "app=cli",
            "-H", "app=again", input="k1:v1\nk2:a:b\n")
    assert r.exit_code == 0, r.output
    r = cli(bootstrap, "produce", topic, "--property", "parse.headers=true", "--property", "parse.key=true",
            "--property", "null.marker=NULL", input="h1:x,h2:NULL\tNULL\tv3\nh3:y\tk4\tNULL\n")
    assert r.exit_code == 0, r.output
    out = _ok(cli(bootstrap, "consume", topic, "--from-beginning", "--timeout-ms", "1000", "-f", "%o|%k|%K|%v|%S|%h"))
    assert out == ["0|k1|2|v1|2|app=cli,app=again", "1|k2|2|a:b|3|app=cli,app=again",
                   "2||-1|v3|2|h1=x,h2=", "3|k4|2||-1|h3=y"]

    # kafka-console-producer fails on a line without the key separator (ignore.error=false);
    # the lines before it are sent.
    r = cli(bootstrap, "produce", topic, "--property", "parse.key=true", input="a\tb\nno separator\nc\td\n")
    assert r.exit_code == 1 and "no key separator '\\t' on line 2" in r.stderr
    out = _ok(cli(bootstrap, "consume", topic, "--from-beginning", "--timeout-ms", "500", "-f", "%k=%v"))
    assert out[4:] == ["a=b"]
    r = cli(bootstrap, "produce", topic, "--property", "parse.key=yes", input="x\n")
    assert r.exit_code == 1 and "expected true or false" in r.stderr
    r = cli(bootstrap, "produce", topic, "--property", "print.key=true", input="x\n")
    assert r.exit_code == 1 and "unknown --property print.key" in r.stderr
    r = cli(bootstrap, "produce", topic, "--header", "novalue", input="x\n")
    assert r.exit_code == 1 and "--header expects KEY=VALUE" in r.stderr


def test_line_format_unit() -> None:
    f = LineFormat.from_properties({"parse.key": "true", "key.separator": " ", "ignore.error": "true"})
    assert f.parse(b"k v w", 1) == (b"k", b"v w", [])
    assert f.parse(b"kv", 2) == (None, b"kv", [])
    with pytest.raises(ToolError, match="must differ"):
        LineFormat.from_properties({"parse.headers": "true", "headers.separator": ":"})


def _batches(client: KafkaClient, topic: str) -> list[dict]:  # type: ignore[type-arg]
    return batch_headers(client.fetch(topic, 0, 0)["records"])


def test_produce_is_idempotent_by_default(bootstrap: str, client: KafkaClient) -> None:
    topic = unique("idem")
    assert cli(bootstrap, "topics", "create", topic, "-p", "1").exit_code == 0
    r = cli(bootstrap, "produce", topic, "--batch-size", "3", input="".join(f"{i}\n" for i in range(7)))
    assert r.exit_code == 0 and "idempotent producer id" in r.stderr
    hs = _batches(client, topic)
    assert [h["base_sequence"] for h in hs] == [0, 3, 6]
    assert len({h["producer_id"] for h in hs}) == 1 and hs[0]["producer_id"] >= 0 and hs[0]["producer_epoch"] >= 0

    # Kafka's rule: acks other than all turn idempotence off unless asked for (then it is an error).
    assert cli(bootstrap, "produce", topic, "--no-idempotence", input="a\n").exit_code == 0
    assert cli(bootstrap, "produce", topic, "--acks", "1", input="b\n").exit_code == 0
    assert [h["producer_id"] for h in _batches(client, topic)[3:]] == [-1, -1]
    r = cli(bootstrap, "produce", topic, "--acks", "1", "--idempotence", input="c\n")
    assert r.exit_code == 1 and "needs acks=all" in r.stderr

    # What idempotence buys: the same stamped batch sent twice (a retry after a lost answer) is written once.
    pid, epoch = client.init_producer_id()
    batch = stamp_producer(encode_batch([(1, None, b"once", None)]), pid, epoch, 0)
    first = client.produce(topic, 0, batch)["base_offset"]
    assert client.produce(topic, 0, batch)["base_offset"] == first
    values = [r.value for r in decode_records(client.fetch(topic, 0, 0)["records"])]
    assert values.count(b"once") == 1
    with pytest.raises(KafkaError) as e:  # a gap in the sequence
        client.produce(topic, 0, stamp_producer(encode_batch([(1, None, b"gap", None)]), pid, epoch, 5))
    assert e.value.name == "OUT_OF_ORDER_SEQUENCE_NUMBER"
