"""The broker's own files in its data directory, beside the partition logs.

- ``meta.properties`` (Kafka's): the cluster id and this broker's id, written once
  when the directory is new. A damaged one, or one naming another broker id, stops
  the start-up with a message saying so: guessing would join the wrong cluster.
- ``producer-id-block``: the end of the block of producer ids reserved so far, so
  ids are never handed out twice across restarts. It is a fixed-width number
  rewritten in place: rewriting it needs no new disk space, so idempotent producers
  keep getting ids on a full disk. A damaged one stops the start-up (it cannot be
  rebuilt: it is the only record of the ids handed out).

Every read treats the file as untrusted input.
"""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path

from pystream.errors import LogDirectoryError

META_PROPERTIES = "meta.properties"
PRODUCER_ID_BLOCK = "producer-id-block"


def load_or_create_meta(data_dir: Path, broker_id: int) -> str:
    """The cluster id recorded in ``meta.properties`` (a new one, written, for a new directory)."""
    path = data_dir / META_PROPERTIES
    try:
        text = path.read_text()
    except FileNotFoundError:
        props = {"version": "0", "cluster.id": _kafka_uuid(), "broker.id": str(broker_id)}
        _write_atomically(path, "".join(f"{k}={v}\n" for k, v in props.items()).encode())
        return props["cluster.id"]
    except (OSError, UnicodeDecodeError) as e:
        raise LogDirectoryError(f"cannot read {path}: {e}") from None
    props = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            props[k.strip()] = v.strip()
    cluster_id = props.get("cluster.id", "")
    if not cluster_id or not all(c.isalnum() or c in "-_" for c in cluster_id):
        raise LogDirectoryError(f"{path} is damaged (no valid cluster.id): restore it from a backup, or, if this data "
                                f"directory belongs to no cluster, delete it and a new cluster id is made at start")
    recorded = props.get("broker.id")
    if recorded is not None and recorded != str(broker_id):
        raise LogDirectoryError(f"{path} says this data directory belongs to broker.id={recorded}, but this broker is "
                                f"broker.id={broker_id}: start it with --broker-id {recorded} or use another --data-dir")
    return cluster_id


class ProducerIdAllocator:
    """Hands out producer ids from blocks reserved in ``producer-id-block``.

    Invariant: every id handed out is below the end recorded in the file (fsynced
    before the first id of a block is returned), so no id is handed out twice.
    """

    BLOCK = 1000
    _WIDTH = 20  # digits of the number in the file: its length never changes

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / PRODUCER_ID_BLOCK
        self.next_id = self.block_end = self._read()

    def _read(self) -> int:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        except OSError as e:
            raise LogDirectoryError(f"cannot read {self.path}: {e}") from None
        try:
            end = int(raw.decode("ascii").strip())
            if end < 0:
                raise ValueError(end)
        except (UnicodeDecodeError, ValueError):
            raise LogDirectoryError(
                f"{self.path} is damaged ({raw[:40]!r}): it records which producer ids were handed out. Restore it, or "
                f"write in it a number larger than any producer id in use (e.g. from `pystream dump-log` of the busiest "
                f"partitions), then start again") from None
        return end

    def allocate(self) -> int:
        """The next producer id (OSError when a new block cannot be recorded)."""
        if self.next_id >= self.block_end:
            self._record(self.next_id + self.BLOCK)
        pid = self.next_id
        self.next_id += 1
        return pid

    def _record(self, end: int) -> None:
        data = f"{end:0{self._WIDTH}d}\n".encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, data, 0)  # in place, same length: no new space needed after the first write
            os.fsync(fd)
        finally:
            os.close(fd)
        self.block_end = end


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _kafka_uuid() -> str:
    """A random id in Kafka's form: URL-safe base64 of 16 bytes, no padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
