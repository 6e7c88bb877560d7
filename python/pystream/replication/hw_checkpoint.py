"""The high watermarks of a broker's replicas, checkpointed: Kafka's replication-offset-checkpoint.

One text file in the data directory, in Kafka's format::

    0                 <- version
    2                 <- number of entries
    orders 0 1234     <- topic partition high-watermark
    orders 1 987

A restarted broker starts each replica from its checkpointed high watermark
(a follower with no leader epochs truncates to it; a new leader starts its
high watermark there) instead of 0. Written atomically (temp file, fsync,
rename), periodically (replica.high.watermark.checkpoint.interval.ms) and at
a clean shutdown. A missing or malformed file reads as empty (the high
watermarks then start at 0, as before the first checkpoint).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger("pystream.replication")

FILE_NAME = "replication-offset-checkpoint"
VERSION = 0


def read_hw_checkpoint(data_dir: str | os.PathLike[str]) -> dict[tuple[str, int], int]:
    """{(topic, partition): high watermark} from the data directory's checkpoint file."""
    path = Path(data_dir) / FILE_NAME
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as e:
        logger.warning("cannot read %s (%s): high watermarks start at 0", path, e)
        return {}
    try:
        if int(lines[0]) != VERSION:
            raise ValueError(f"version {lines[0]!r}")
        count = int(lines[1])
        out: dict[tuple[str, int], int] = {}
        for line in lines[2:2 + count]:
            topic, partition, hw = line.rsplit(" ", 2)
            out[(topic, int(partition))] = int(hw)
        if len(out) != count:
            raise ValueError(f"{len(out)} entries, header says {count}")
        return out
    except (IndexError, ValueError) as e:
        logger.warning("malformed %s (%s): high watermarks start at 0", path, e)
        return {}


def write_hw_checkpoint(data_dir: str | os.PathLike[str], hws: Mapping[tuple[str, int], int]) -> None:
    """Replaces the checkpoint file with `hws` (atomically)."""
    path = Path(data_dir) / FILE_NAME
    tmp = path.with_name(FILE_NAME + ".tmp")
    body = "".join(f"{t} {p} {hw}\n" for (t, p), hw in sorted(hws.items()))
    with open(tmp, "w") as f:
        f.write(f"{VERSION}\n{len(hws)}\n{body}")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
