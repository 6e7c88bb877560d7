"""Broker configuration: server.properties parsing with Kafka's key names."""

from pathlib import Path

import pytest

from pystream.server.config import BrokerConfig, ConfigError, load_properties


def test_properties_file_and_aliases(tmp_path: Path) -> None:
    f = tmp_path / "server.properties"
    f.write_text("# comment\nnum.partitions=3\nauto.create.topics.enable = false\nlog.retention.hours: 2\nlog.dirs=/ignored\n")
    cfg = BrokerConfig.from_sources("127.0.0.1", 9092, tmp_path, load_properties(f))
    assert cfg.get("num.partitions") == 3
    assert cfg.get("auto.create.topics.enable") is False
    assert cfg.get("log.retention.ms") == 2 * 3600 * 1000
    assert cfg.log_kwargs()["retention_ms"] == 2 * 3600 * 1000
    assert cfg.topic_defaults()["retention.ms"] == 2 * 3600 * 1000


@pytest.mark.parametrize("line", ["num.partitions=three", "auto.create.topics.enable=yes", "no.such.key=1"])
def test_bad_values_name_the_key(tmp_path: Path, line: str) -> None:
    f = tmp_path / "server.properties"
    f.write_text(line + "\n")
    with pytest.raises(ConfigError, match=line.split("=")[0].replace(".", r"\.")):
        BrokerConfig.from_sources("127.0.0.1", 9092, tmp_path, load_properties(f))


def test_line_without_separator(tmp_path: Path) -> None:
    f = tmp_path / "server.properties"
    f.write_text("just-a-word\n")
    with pytest.raises(ConfigError, match="expected key=value"):
        load_properties(f)
