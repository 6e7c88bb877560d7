"""`pystream consume`: --offset with --partition, --max-messages, kafka-console-consumer's --property formatter."""

from __future__ import annotations

from cli_helpers import cli, unique

from pystream._core import Record
from pystream.tools.consume import PropertyFormatter


def _ok(result) -> list[str]:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_consume_offset_and_partition(bootstrap: str) -> None:
    topic = unique("offsets")
    assert cli(bootstrap, "topics", "create", topic, "-p", "2").exit_code == 0
    assert cli(bootstrap, "produce", topic, "-p", "0", input="".join(f"a{i}\n" for i in range(6))).exit_code == 0
    assert cli(bootstrap, "produce", topic, "-p", "1", input="b0\nb1\n").exit_code == 0

    assert _ok(cli(bootstrap, "consume", topic, "-p", "0", "--offset", "4", "--timeout-ms", "500")) == ["a4", "a5"]
    assert _ok(cli(bootstrap, "consume", topic, "-p", "0", "-p", "1", "--offset", "1", "--timeout-ms", "500",
                   "-f", "%p:%v")) == ["0:a1", "0:a2", "0:a3", "0:a4", "0:a5", "1:b1"]
    assert _ok(cli(bootstrap, "consume", topic, "-p", "0", "--offset", "earliest", "-n", "2")) == ["a0", "a1"]
    assert _ok(cli(bootstrap, "consume", topic, "-p", "1", "--offset", "latest", "--timeout-ms", "300")) == []
    r = cli(bootstrap, "consume", topic, "-p", "0", "--offset", "2", "--max-messages", "3")
    assert _ok(r) == ["a2", "a3", "a4"] and "Processed a total of 3 messages" in r.stderr

    r = cli(bootstrap, "consume", topic, "--offset", "3")
    assert r.exit_code == 2 and "--offset needs --partition" in r.stderr
    r = cli(bootstrap, "consume", topic, "-p", "0", "--offset", "-3")
    assert r.exit_code == 1 and "non-negative offset" in r.stderr
    r = cli(bootstrap, "consume", topic, "-p", "0", "--offset", "1", "--from-beginning")
    assert r.exit_code == 2 and "cannot be used together" in r.stderr
    r = cli(bootstrap, "consume", topic, "-p", "0", "--offset", "100", "--timeout-ms", "300")  # past the end
    assert r.exit_code == 0 and "out of range; resetting to 6" in r.stderr


def test_consume_console_consumer_properties(bootstrap: str) -> None:
    topic = unique("fmt")
    assert cli(bootstrap, "topics", "create", topic, "-p", "1").exit_code == 0
    assert cli(bootstrap, "produce", topic, "--property", "parse.key=true,key.separator=:", "-H", "h=1",
               input="k1:v1\n").exit_code == 0
    assert cli(bootstrap, "produce", topic, "--no-idempotence", input="v2\n").exit_code == 0

    out = _ok(cli(bootstrap, "consume", topic, "--from-beginning", "--timeout-ms", "500",
                  "--property", "print.key=true", "--property", "key.separator=:"))
    assert out == ["k1:v1", "null:v2"]
    out = _ok(cli(bootstrap, "consume", topic, "--from-beginning", "--timeout-ms", "500", "--property",
                  "print.partition=true,print.offset=true,print.headers=true,print.key=true,print.value=false,"
                  "null.literal=-"))
    assert out == ["Partition:0\tOffset:0\th:1\tk1", "Partition:0\tOffset:1\tNO_HEADERS\t-"]
    out = _ok(cli(bootstrap, "consume", topic, "--from-beginning", "--timeout-ms", "500", "--property",
                  "print.timestamp=true", "--property", "line.separator=|"))
    fields = out[0].split("|")[:2]
    assert all(f.startswith("CreateTime:") and f.split("\t")[0][11:].isdigit() for f in fields)
    assert [f.split("\t")[1] for f in fields] == ["v1", "v2"]

    r = cli(bootstrap, "consume", topic, "--property", "print.nothing=true")
    assert r.exit_code == 1 and "unknown --property print.nothing" in r.stderr
    r = cli(bootstrap, "consume", topic, "--property", "print.key=true", "-f", "%v")
    assert r.exit_code == 2 and "cannot be used together" in r.stderr


def test_property_formatter_log_append_time() -> None:
    f = PropertyFormatter({"print.timestamp": "true", "print.value": "false"})
    assert f("t", 0, Record(3, 99, None, b"v"), True) == "LogAppendTime:99\n"
    assert f("t", 0, Record(3, 99, None, b"v")) == "CreateTime:99\n"
