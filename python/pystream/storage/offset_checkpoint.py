"""Kafka's offset checkpoint files: one text file of ``(topic, partition) -> offset``.

The format Kafka's OffsetCheckpointFile writes (the cleaner's
``cleaner-offset-checkpoint``, the replicas' ``replication-offset-checkpoint``)::

    0                 <- version
    2                 <- number of entries
    orders 0 1234     <- topic partition offset
    orders 1 987

Written atomically (temp file, fsync, rename). A missing file reads as empty; so
does a damaged one, with a warning that says what that costs its reader.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger("pystream.storage")

VERSION = 0


def read_offset_checkpoint(path: str | os.PathLike[str], if_damaged: str) -> dict[tuple[str, int], int]:
    """{(topic, partition): offset} from `path`; empty when missing or damaged (then a warning
    ends with `if_damaged`, what the reader does without it)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
        if int(lines[0]) != VERSION:
            raise ValueError(f"version {lines[0]!r}")
        count = int(lines[1])
        out: dict[tuple[str, int], int] = {}
        for line in lines[2:2 + count]:
            topic, partition, offset = line.rsplit(" ", 2)  # (the last two fields: a name may hold a space)
            out[(topic, int(partition))] = int(offset)
        if len(out) != count:
            raise ValueError(f"{len(out)} entries, header says {count}")
        return out
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, IndexError) as e:  # (UnicodeDecodeError is a ValueError)
        logger.warning("ignoring a damaged %s (%s): %s", path, e, if_damaged)
        return {}


def write_offset_checkpoint(path: str | os.PathLike[str], entries: Mapping[tuple[str, int], int]) -> None:
    """Replaces the file at `path` with `entries`, atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    body = "".join(f"{t} {p} {o}\n" for (t, p), o in sorted(entries.items()))
    with open(tmp, "w") as f:
        f.write(f"{VERSION}\n{len(entries)}\n{body}")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
