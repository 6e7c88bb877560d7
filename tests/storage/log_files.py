"""Helpers shared by the storage tests (imported as `log_files`): independent
(pure struct) parsers of segment, index and time-index files, the indexing rule
of docs/storage.md computed from the parsed batches, and directory snapshots."""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HEADER = struct.Struct(">qiibIhiqqqhii")  # the 61-byte RecordBatch v2 header
HEADER_LEN = HEADER.size
assert HEADER_LEN == 61


@dataclass(frozen=True)
class Batch:
    position: int
    base_offset: int
    size: int
    leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    record_count: int
    raw: bytes

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta


def parse_batches(data: bytes) -> list[Batch]:
    """Splits whole batches; asserts the bytes are exactly a sequence of batches."""
    out = []
    pos = 0
    while pos < len(data):
        assert pos + HEADER_LEN <= len(data), f"torn header at {pos}"
        f = HEADER.unpack_from(data, pos)
        size = f[1] + 12
        assert pos + size <= len(data), f"torn batch at {pos}"
        out.append(
            Batch(pos, f[0], size, f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[12], bytes(data[pos : pos + size]))
        )
        pos += size
    return out


def seg_name(base: int, ext: str) -> str:
    return f"{base:020d}.{ext}"


def segment_bases(d: Path) -> list[int]:
    return sorted(int(p.name[:20]) for p in Path(d).iterdir() if p.name.endswith(".log") and len(p.name) == 24)


def read_offset_index(path: Path) -> list[tuple[int, int]]:
    data = Path(path).read_bytes()
    return [struct.unpack_from(">II", data, i) for i in range(0, len(data) - len(data) % 8, 8)]


def read_time_index(path: Path) -> list[tuple[int, int]]:
    data = Path(path).read_bytes()
    return [struct.unpack_from(">qI", data, i) for i in range(0, len(data) - len(data) % 12, 12)]


def expected_indexes(batches: list[Batch], base: int, interval: int, rolled: bool) -> tuple[list, list]:
    """Kafka's LogSegment.append rule as docs/storage.md states it."""
    off: list[tuple[int, int]] = []
    tim: list[tuple[int, int]] = []
    max_ts, off_max = -1, -1
    since = 0
    for b in batches:
        if b.max_timestamp > max_ts:
            max_ts, off_max = b.max_timestamp, b.last_offset
        if since > interval:
            off.append((b.last_offset - base, b.position))
            if max_ts > (tim[-1][0] if tim else -1):
                tim.append((max_ts, off_max - base))
            since = 0
        since += b.size
    if rolled and max_ts > (tim[-1][0] if tim else -1):
        tim.append((max_ts, off_max - base))
    return off, tim


def check_index_files(d: Path, interval: int) -> int:
    """Asserts every segment's .index/.timeindex hold exactly the entries the
    rule gives (non-active segments with the final roll entry). Returns the
    number of index entries checked."""
    d = Path(d)
    bases = segment_bases(d)
    n = 0
    for i, base in enumerate(bases):
        batches = parse_batches((d / seg_name(base, "log")).read_bytes())
        rolled = i < len(bases) - 1
        want_off, want_time = expected_indexes(batches, base, interval, rolled)
        raw_off = (d / seg_name(base, "index")).read_bytes()
        raw_time = (d / seg_name(base, "timeindex")).read_bytes()
        assert len(raw_off) == 8 * len(want_off), f"{base}: .index not trimmed to its entries"
        assert len(raw_time) == 12 * len(want_time), f"{base}: .timeindex not trimmed to its entries"
        assert read_offset_index(d / seg_name(base, "index")) == want_off, f"offset index of segment {base}"
        assert read_time_index(d / seg_name(base, "timeindex")) == want_time, f"time index of segment {base}"
        n += len(want_off) + len(want_time)
    return n


def all_batches(d: Path) -> list[Batch]:
    out = []
    for base in segment_bases(d):
        out.extend(parse_batches((Path(d) / seg_name(base, "log")).read_bytes()))
    return out


def snapshot(d: Path, exts=(".log", ".index", ".timeindex")) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(d).iterdir()) if p.suffix in exts}


def value_of(offset: int, size: int = 20) -> bytes:
    """A value that encodes its offset (checked by the crash tests)."""
    head = b"v%012d:" % offset
    return (head * (size // len(head) + 1))[: max(size, len(head))]


def reference_log_class():
    """ReferenceLog when python/pystream/storage/reference.py exists and imports."""
    try:
        from pystream.storage.reference import ReferenceLog  # noqa: PLC0415
    except Exception:  # noqa: BLE001 - absent or broken: cross-checks are skipped
        return None
    return ReferenceLog


def close_quietly(log) -> None:
    try:
        log.close()
    except Exception:  # noqa: BLE001
        pass



# ----------------------------------------------------------------------------
# real full filesystems (tmpfs; mounting needs root)

IS_ROOT = os.geteuid() == 0
NEEDS_ROOT = "mounting a tmpfs to fill it up needs root"


@contextlib.contextmanager
def tmpfs(path: Path, size_kib: int, inodes: int | None = None) -> Iterator[Path]:
    """A real tmpfs of `size_kib` KiB (and at most `inodes` files) mounted at `path`; unmounted on exit."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size_kib}k,mode=0755" + (f",nr_inodes={inodes}" if inodes else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=False)


def resize_tmpfs(path: Path, size_kib: int, inodes: int | None = None) -> None:
    opts = f"remount,size={size_kib}k" + (f",nr_inodes={inodes}" if inodes else "")
    subprocess.run(["mount", "-o", opts, str(path)], check=True)


def fill_up(path: Path) -> Path:
    """Writes a filler file until the filesystem at `path` is full (ENOSPC)."""
    filler = path / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (1 << 16, 4096, 1):
            while True:
                try:
                    f.write(b"\0" * chunk)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
    return filler


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def file_sizes(d: Path) -> dict[str, int]:
    """Sizes of a partition's segment and index files (what an append changes)."""
    return {p.name: p.stat().st_size for p in sorted(Path(d).iterdir()) if p.suffix in (".log", ".index", ".timeindex")}
