"""The high watermarks of a broker's replicas, checkpointed: Kafka's replication-offset-checkpoint.

One text file in the data directory, in Kafka's offset checkpoint format
(`pystream.storage.offset_checkpoint`: topic, partition, high watermark).

A restarted broker starts each replica from its checkpointed high watermark
(a follower with no leader epochs truncates to it; a new leader starts its
high watermark there) instead of 0. Written atomically (temp file, fsync,
rename), periodically (replica.high.watermark.checkpoint.interval.ms) and at
a clean shutdown. A missing or malformed file reads as empty (the high
watermarks then start at 0, as before the first checkpoint).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pystream.storage.offset_checkpoint import read_offset_checkpoint, write_offset_checkpoint

FILE_NAME = "replication-offset-checkpoint"


def read_hw_checkpoint(data_dir: str | os.PathLike[str]) -> dict[tuple[str, int], int]:
    """{(topic, partition): high watermark} from the data directory's checkpoint file."""
    return read_offset_checkpoint(Path(data_dir) / FILE_NAME, "high watermarks start at 0")


def write_hw_checkpoint(data_dir: str | os.PathLike[str], hws: Mapping[tuple[str, int], int]) -> None:
    """Replaces the checkpoint file with `hws` (atomically)."""
    write_offset_checkpoint(Path(data_dir) / FILE_NAME, hws)
