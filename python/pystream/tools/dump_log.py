"""`pystream dump-log FILE`: what is in a partition's files (Kafka's DumpLogSegments).

- ``NNNN.log``: its record batches (offsets, size, CRC check, producer fields), with
  ``--records`` every record; ``--verify`` also runs the storage core's full check
  (`pystream._core.verify_segment`: framing, CRC32C, record framing, increasing offsets).
- ``NNNN.index``: the sparse offset index, entries of 8 bytes (u32 offset relative to the
  segment's base offset, u32 position in the .log): printed as absolute offset -> position.
- ``NNNN.timeindex``: the time index, entries of 12 bytes (i64 timestamp, u32 relative
  offset): printed as timestamp -> absolute offset.

An index may be preallocated (the active segment's): its zero-filled tail is not
entries and is reported as such. ``--verify`` on an index checks its entries increase
and, when the segment's .log is beside it, that each one agrees with the batches
(an offset entry points at the start of the batch ending at that offset; a time entry
names the largest timestamp up to the batch it points at), as Kafka's
--index-sanity-check and its index/log mismatch report do.

Every function returns the problems found (an empty list: all is well) and writes its
report through `echo`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["KINDS", "dump"]

Echo = Callable[[str], None]

KINDS = {".log": "segment (record batches)", ".index": "offset index (offset -> position)",
         ".timeindex": "time index (timestamp -> offset)"}
_OFFSET_ENTRY = struct.Struct(">II")
_TIME_ENTRY = struct.Struct(">qI")


def _base_offset(path: Path) -> int | None:
    return int(path.stem) if len(path.stem) == 20 and path.stem.isdigit() else None


def dump(path: Path, echo: Echo, *, show_records: bool = False, verify: bool = False) -> list[str]:
    """Dump `path` by its kind (its suffix); ValueError naming the kinds for any other file."""
    kind = KINDS.get(path.suffix)
    if kind is None or _base_offset(path) is None:
        raise ValueError(f"{path.name} is not a segment file: dump-log reads NNNNNNNNNNNNNNNNNNNN.log "
                         f"(record batches), .index (offset index) and .timeindex (time index)")
    echo(f"Dumping {path} ({kind}, base offset {_base_offset(path)})")
    if path.suffix == ".log":
        return _dump_segment(path, echo, show_records, verify)
    return _dump_index(path, echo, verify)


def _dump_segment(path: Path, echo: Echo, show_records: bool, verify: bool) -> list[str]:
    from pystream import _core
    from pystream.errors import CorruptRecordError

    data = path.read_bytes()
    pos = 0
    while pos < len(data):
        # A batch is its 12-byte offset+length prefix plus `length` bytes; batch_headers checks the CRC.
        size = int.from_bytes(data[pos + 8: pos + 12], "big", signed=True) + 12
        try:
            h = _core.batch_headers(data[pos: pos + max(size, 0)])[0]
        except CorruptRecordError as e:
            echo(f"position {pos}: invalid batch: {e}")
            return [f"position {pos}: invalid batch: {e}"]
        echo(f"position {pos} offsets {h['base_offset']}..{h['last_offset']} count {h['record_count']} size {size} "
             f"crc {h['crc']:#010x} (valid) compression {h['compression']} max_timestamp {h['max_timestamp']} "
             f"producer {h['producer_id']}/{h['producer_epoch']}/{h['base_sequence']} "
             f"leader_epoch {h['partition_leader_epoch']}{' control' if h['is_control'] else ''}")
        if show_records:
            for r in _core.decode_records(data[pos: pos + size]):
                echo(f"  offset {r.offset} timestamp {r.timestamp} key {r.key!r} value {r.value!r} headers {list(r.headers)}")
        pos += size
    problems = []
    if verify:
        problems = [f"position {position}: offset {offset}: {why}" for _, position, offset, why in _core.verify_segment(path)]
        for p in problems:
            echo(f"verify: {p}")
    echo(f"{len(data)} bytes, " + ("verified: " if verify else "") + ("all batches valid" if not problems else
                                                                          f"{len(problems)} problem(s)"))
    return problems


def _entries(path: Path) -> tuple[list[tuple[int, int]], int, int]:
    """(entries, bytes of preallocated zeros after them, bytes left over that are not a whole entry)."""
    data = path.read_bytes()
    entry = _OFFSET_ENTRY if path.suffix == ".index" else _TIME_ENTRY
    whole = len(data) - len(data) % entry.size
    out = []
    for pos in range(0, whole, entry.size):
        a, b = entry.unpack_from(data, pos)
        # The zero-filled tail of a preallocated index: an index entry is never all zeros (the first
        # batch of a segment is never indexed: its entry would be offset +0 at position 0)
        if a == 0 and b == 0 and not any(data[pos:whole]):
            return out, whole - pos, len(data) - whole
        out.append((a, b))
    return out, 0, len(data) - whole


def _batches(log: Path) -> list[dict[str, Any]] | None:
    """The batch headers of the segment beside an index (None when there is none, or it is damaged)."""
    from pystream import _core
    from pystream.errors import CorruptRecordError

    if not log.exists():
        return None
    try:
        return _core.batch_headers(log.read_bytes())
    except CorruptRecordError:
        return None


def _dump_index(path: Path, echo: Echo, verify: bool) -> list[str]:
    base = _base_offset(path)
    assert base is not None
    entries, zeros, partial = _entries(path)
    is_offsets = path.suffix == ".index"
    for a, b in entries:
        echo(f"offset: {base + a} position: {b}" if is_offsets else f"timestamp: {a} offset: {base + b}")
    echo(f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'}" + (f", then {zeros} bytes of preallocated space" if zeros else "")
         + (f", then {partial} bytes that are not a whole entry" if partial else ""))
    if not verify:
        return []
    problems = []
    if partial:
        problems.append(f"{partial} trailing bytes are not a whole {'8' if is_offsets else '12'}-byte entry")
    for i in range(1, len(entries)):
        (a0, b0), (a1, b1) = entries[i - 1], entries[i]
        # offset entries: offsets and positions increase; time entries: timestamps increase, offsets never go back
        if a1 <= a0 or (b1 <= b0 if is_offsets else b1 < b0):
            problems.append(f"entry {i} does not increase: {entries[i - 1]} then {entries[i]}")
    log = path.with_suffix(".log")
    batches = _batches(log)
    if batches is None:
        echo(f"verify: {log.name} is missing or damaged: entries checked against each other only")
    else:
        problems += _check_offsets(entries, base, batches) if is_offsets else _check_times(entries, base, batches)
    for p in problems:
        echo(f"verify: {p}")
    echo("verified: " + (f"{len(problems)} problem(s)" if problems else
                         "entries increase" + ("" if batches is None else f" and agree with {log.name}")))
    return problems


def _check_offsets(entries: list[tuple[int, int]], base: int, batches: list[dict[str, Any]]) -> list[str]:
    by_position = {h["position"]: h for h in batches}
    problems = []
    for rel, position in entries:
        h = by_position.get(position)
        if h is None:
            problems.append(f"offset {base + rel} -> position {position}: no batch starts there")
        elif h["last_offset"] != base + rel:
            problems.append(f"offset {base + rel} -> position {position}: the batch there ends at offset {h['last_offset']}")
    return problems


def _check_times(entries: list[tuple[int, int]], base: int, batches: list[dict[str, Any]]) -> list[str]:
    largest: dict[int, int] = {}  # last offset of each batch -> the largest timestamp up to it
    so_far = -1
    for h in batches:
        so_far = max(so_far, h["max_timestamp"])
        largest[h["last_offset"]] = so_far
    problems = []
    for ts, rel in entries:
        if base + rel not in largest:
            problems.append(f"timestamp {ts} -> offset {base + rel}: no batch ends at that offset")
        elif largest[base + rel] != ts:
            problems.append(f"timestamp {ts} -> offset {base + rel}: the largest timestamp up to there is {largest[base + rel]}")
    return problems
