"""The leader-epoch cache of one partition: Kafka's LeaderEpochFileCache.

An entry (epoch, start_offset) says: the leader of `epoch` wrote its first
batch at `start_offset`. The entries live in memory and in the partition
directory's ``leader-epoch-checkpoint`` file, in Kafka's own text format::

    0                  <- format version
    <count>
    <epoch> <start_offset>
    ...

Invariants (checked on load, kept by every mutation):

- epochs strictly increase and start offsets strictly increase along the list;
- the file is rewritten atomically (temp file, fsync, rename, fsync of the
  directory) after every change, so a crash leaves the old or the new list.

The follower asks the leader "where does my latest epoch end on your side?"
(OffsetForLeaderEpoch, KIP-101/KIP-279) and the leader answers from
`end_offset_for`; both sides use the same class.
"""

from __future__ import annotations

import os
import struct
from bisect import bisect_left, bisect_right
from pathlib import Path
from typing import Any, Protocol

from pystream.errors import PystreamError

CHECKPOINT_FILE = "leader-epoch-checkpoint"
CHECKPOINT_VERSION = 0
UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1

_BATCH_PREFIX = struct.Struct(">qi")  # baseOffset, batchLength
_BATCH_OVERHEAD = 12  # bytes before the batchLength-counted part


class LeaderEpochCheckpointError(PystreamError, ValueError):
    """The leader-epoch-checkpoint file is malformed (the message names the file and line)."""


class _ScannableLog(Protocol):  # the part of pystream.Log that rebuild_from_log uses
    @property
    def start_offset(self) -> int: ...
    @property
    def end_offset(self) -> int: ...
    def read(self, offset: int, max_bytes: int = ..., max_offset: int | None = ...) -> Any: ...


def whole_batches_length(buf: Any) -> int:
    """Bytes of the whole record batches at the start of `buf` (a trailing partial batch excluded)."""
    mv = memoryview(buf).cast("B")
    pos, n = 0, len(mv)
    while pos + _BATCH_OVERHEAD <= n:
        _, length = _BATCH_PREFIX.unpack_from(mv, pos)
        end = pos + _BATCH_OVERHEAD + length
        if length <= 0 or end > n:
            break
        pos = end
    return pos


class LeaderEpochCache:
    """Leader epochs of one partition, persisted in `<partition_dir>/leader-epoch-checkpoint`.

    Not thread-safe: the broker uses it from its event loop.
    """

    def __init__(self, partition_dir: str | os.PathLike[str]) -> None:
        self.directory = Path(partition_dir)
        self.path = self.directory / CHECKPOINT_FILE
        self._epochs: list[int] = []
        self._starts: list[int] = []
        self._load()

    # ----- reading ---------------------------------------------------------------

    @property
    def entries(self) -> list[tuple[int, int]]:
        """(epoch, start_offset) pairs, oldest first."""
        return list(zip(self._epochs, self._starts))

    def __len__(self) -> int:
        return len(self._epochs)

    def __repr__(self) -> str:
        return f"<LeaderEpochCache {str(self.path)!r} {self.entries}>"

    def latest_epoch(self) -> int:
        """The latest epoch, or UNDEFINED_EPOCH (-1) when the cache is empty."""
        return self._epochs[-1] if self._epochs else UNDEFINED_EPOCH

    def earliest_entry(self) -> tuple[int, int] | None:
        return (self._epochs[0], self._starts[0]) if self._epochs else None

    def latest_entry(self) -> tuple[int, int] | None:
        return (self._epochs[-1], self._starts[-1]) if self._epochs else None

    def epoch_for_offset(self, offset: int) -> int:
        """The epoch whose range holds `offset` (UNDEFINED_EPOCH before the first entry)."""
        i = bisect_right(self._starts, offset)
        return self._epochs[i - 1] if i else UNDEFINED_EPOCH

    def end_offset_for(self, requested_epoch: int, log_end_offset: int) -> tuple[int, int]:
        """Kafka's LeaderEpochFileCache.endOffsetFor: (epoch, end offset) for a requested epoch.

        - requested == UNDEFINED_EPOCH, or larger than every known epoch: (-1, -1);
        - requested == the latest epoch: (latest, log_end_offset);
        - requested below the first known epoch: (requested, start of the first
          epoch) — the data of earlier epochs is gone, replicate from there;
        - otherwise: (largest known epoch <= requested, start offset of the
          first epoch > requested).
        """
        if requested_epoch == UNDEFINED_EPOCH or not self._epochs:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if requested_epoch == self._epochs[-1]:
            return requested_epoch, log_end_offset
        hi = bisect_right(self._epochs, requested_epoch)  # index of the first epoch > requested
        if hi == len(self._epochs):
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if hi == 0:
            return requested_epoch, self._starts[0]
        return self._epochs[hi - 1], self._starts[hi]

    # ----- mutations -------------------------------------------------------------

    def assign(self, epoch: int, start_offset: int) -> bool:
        """Records that `epoch` starts at `start_offset` (Kafka's assign). Returns True if changed.

        A no-op when `epoch` is the latest epoch and does not start earlier than
        recorded. Otherwise the entries that would break monotonicity (epoch >=
        `epoch` or start >= `start_offset`) are dropped, then the entry is added
        (as Kafka does; a lower epoch than the latest therefore replaces the
        later ones — the caller appends batches in log order, so this only
        happens when the log itself went back).
        """
        if epoch < 0 or start_offset < 0:
            raise ValueError(f"invalid leader epoch entry ({epoch}, {start_offset}) for {self.path}")
        if self._epochs and epoch == self._epochs[-1] and start_offset >= self._starts[-1]:
            return False
        keep = len(self._epochs)
        while keep and (self._epochs[keep - 1] >= epoch or self._starts[keep - 1] >= start_offset):
            keep -= 1
        del self._epochs[keep:], self._starts[keep:]
        self._epochs.append(epoch)
        self._starts.append(start_offset)
        self._flush()
        return True

    def truncate_from_end(self, end_offset: int) -> None:
        """After the log was truncated to `end_offset`: drop entries starting at or after it."""
        if end_offset < 0 or not self._starts or self._starts[-1] < end_offset:
            return
        keep = bisect_left(self._starts, end_offset)
        del self._epochs[keep:], self._starts[keep:]
        self._flush()

    def truncate_from_start(self, start_offset: int) -> None:
        """After the log start moved to `start_offset`: drop the entries wholly before it and
        move the start of the epoch that holds `start_offset` to it (Kafka's truncateFromStart)."""
        n = bisect_right(self._starts, start_offset)  # entries with start <= start_offset
        if n == 0:
            return
        epoch = self._epochs[n - 1]
        if n == 1 and self._starts[0] == start_offset:
            return
        del self._epochs[:n], self._starts[:n]
        self._epochs.insert(0, epoch)
        self._starts.insert(0, start_offset)
        self._flush()

    def clear(self) -> None:
        if self._epochs:
            self._epochs.clear()
            self._starts.clear()
            self._flush()

    def rebuild_from_log(self, log: _ScannableLog, max_bytes: int = 1 << 20) -> None:
        """Replaces the entries with those implied by the log's batches (their partitionLeaderEpoch).

        Batches with epoch -1 (written without a leader epoch) are skipped.
        Reads whole batches with `log.read` and takes the epoch from byte 12 of
        each batch header.
        """
        epochs: list[int] = []
        starts: list[int] = []
        offset, end = log.start_offset, log.end_offset
        while offset < end:
            buf = memoryview(log.read(offset, max_bytes)).cast("B")
            n = whole_batches_length(buf)
            if n == 0:
                break  # cannot happen: read returns at least one whole batch
            pos = 0
            last = offset
            while pos < n:
                base, length = _BATCH_PREFIX.unpack_from(buf, pos)
                (ple,) = struct.unpack_from(">i", buf, pos + 12)
                (last_delta,) = struct.unpack_from(">i", buf, pos + 23)
                if ple >= 0 and (not epochs or ple != epochs[-1]):
                    while epochs and (epochs[-1] >= ple or starts[-1] >= base):
                        epochs.pop()
                        starts.pop()
                    epochs.append(ple)
                    starts.append(base)
                last = base + last_delta
                pos += _BATCH_OVERHEAD + length
            offset = last + 1
        if epochs != self._epochs or starts != self._starts:
            self._epochs, self._starts = epochs, starts
            self._flush()

    # ----- file ------------------------------------------------------------------

    def _load(self) -> None:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()

        def bad(lineno: int, why: str) -> LeaderEpochCheckpointError:
            return LeaderEpochCheckpointError(f"{self.path}: line {lineno}: {why}")

        if len(lines) < 2:
            raise bad(len(lines) + 1, "missing version or entry count")
        try:
            version, count = int(lines[0]), int(lines[1])
        except ValueError:
            raise bad(1, "version and entry count must be integers") from None
        if version != CHECKPOINT_VERSION:
            raise bad(1, f"unsupported checkpoint version {version}")
        if count != len(lines) - 2:
            raise bad(2, f"entry count {count} but {len(lines) - 2} entries")
        for i, line in enumerate(lines[2:], start=3):
            parts = line.split(" ")
            if len(parts) != 2:
                raise bad(i, f"expected '<epoch> <start_offset>', got {line!r}")
            try:
                epoch, start = int(parts[0]), int(parts[1])
            except ValueError:
                raise bad(i, f"expected '<epoch> <start_offset>', got {line!r}") from None
            if self._epochs and (epoch <= self._epochs[-1] or start < self._starts[-1]):
                raise bad(i, "epochs and start offsets must increase")
            self._epochs.append(epoch)
            self._starts.append(start)

    def _flush(self) -> None:
        body = f"{CHECKPOINT_VERSION}\n{len(self._epochs)}\n" + "".join(
            f"{e} {s}\n" for e, s in zip(self._epochs, self._starts))
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        try:
            dfd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
