"""`pystream consume TOPIC`: print records of a topic, optionally as a group that commits.

Output format (``--format``), one line per record (a newline is added unless
the format ends with one). Two styles:

- kcat style, when the format contains ``%``: ``%t`` topic, ``%p`` partition,
  ``%o`` offset, ``%k`` key, ``%v`` (or ``%s``) value, ``%K`` key length,
  ``%S`` value length, ``%T`` timestamp (ms), ``%h`` headers as
  ``k=v,k2=v2``, ``%%`` a percent sign. Example: ``'%p:%o %k=%v'``.
- Python style otherwise: ``str.format`` with the names ``topic``,
  ``partition``, ``offset``, ``key``, ``value``, ``timestamp``, ``headers``.
  Example: ``'{key}\\t{value}'``.

In both, ``\\n``, ``\\t`` and ``\\\\`` are escapes. Keys and values are decoded
as UTF-8 (invalid bytes replaced); a null key or value prints as empty.

With ``--group`` the consumer is a Kafka "simple consumer": it takes every
partition (or ``--partition``) itself, starts from the group's committed
offsets, and commits (generation -1, no member id) after each batch it prints.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from pystream.protocol.client import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, KafkaClient, KafkaError, complete_batches
from pystream.tools import ToolError

__all__ = ["DEFAULT_FORMAT", "Formatter", "consume"]

DEFAULT_FORMAT = "%v"
_RETRY_ERRORS = {3, 5, 6, 13, 74, 75}


def _unescape(fmt: str) -> str:
    return re.sub(r"\\([nt\\])", lambda m: {"n": "\n", "t": "\t", "\\": "\\"}[m.group(1)], fmt)


def _text(b: bytes | None) -> str:
    return "" if b is None else b.decode("utf-8", "replace")


def _headers(hs: Any) -> str:
    return ",".join(f"{k}={_text(v)}" for k, v in hs)


_TOKENS: dict[str, Callable[[str, int, Any], str]] = {
    "t": lambda t, p, r: t,
    "p": lambda t, p, r: str(p),
    "o": lambda t, p, r: str(r.offset),
    "k": lambda t, p, r: _text(r.key),
    "v": lambda t, p, r: _text(r.value),
    "s": lambda t, p, r: _text(r.value),
    "K": lambda t, p, r: str(-1 if r.key is None else len(r.key)),
    "S": lambda t, p, r: str(-1 if r.value is None else len(r.value)),
    "T": lambda t, p, r: str(r.timestamp),
    "h": lambda t, p, r: _headers(r.headers),
}


class Formatter:
    """Turns (topic, partition, Record) into one output line (see the module docstring)."""

    def __init__(self, fmt: str = DEFAULT_FORMAT) -> None:
        fmt = _unescape(fmt)
        if not fmt.endswith("\n"):
            fmt += "\n"
        self.fmt = fmt
        self.kcat = "%" in fmt
        if self.kcat:
            parts: list[str | Callable[[str, int, Any], str]] = []
            literal = []
            i = 0
            while i < len(fmt):
                c = fmt[i]
                if c == "%" and i + 1 < len(fmt):
                    tok = fmt[i + 1]
                    if tok == "%":
                        literal.append("%")
                    elif tok in _TOKENS:
                        if literal:
                            parts.append("".join(literal))
                            literal = []
                        parts.append(_TOKENS[tok])
                    else:
                        raise ToolError(f"unknown format token %{tok} (known: %t %p %o %k %v %s %K %S %T %h %%)")
                    i += 2
                    continue
                literal.append(c)
                i += 1
            if literal:
                parts.append("".join(literal))
            self._parts = parts
        else:
            try:
                fmt.format(topic="", partition=0, offset=0, key="", value="", timestamp=0, headers="")
            except (KeyError, IndexError, ValueError) as e:
                raise ToolError(f"bad --format {fmt!r}: {e!r} (names: topic partition offset key value timestamp headers)") from None

    def __call__(self, topic: str, partition: int, record: Any) -> str:
        if self.kcat:
            return "".join(p if isinstance(p, str) else p(topic, partition, record) for p in self._parts)
        return self.fmt.format(topic=topic, partition=partition, offset=record.offset, key=_text(record.key),
                               value=_text(record.value), timestamp=record.timestamp, headers=_headers(record.headers))


def _records(data: Any) -> tuple[list[Any], int]:
    """Records of the whole batches in `data` (control batches skipped) and the offset after the last batch."""
    from pystream._core import batch_headers, decode_records

    if data is None or len(data) == 0:
        return [], -1
    mv = complete_batches(data)
    if len(mv) == 0:
        return [], -1
    headers = batch_headers(mv)
    next_offset = max(h["last_offset"] for h in headers) + 1
    if not any(h["is_control"] for h in headers):
        return decode_records(mv), next_offset
    out = []
    for h in headers:
        if not h["is_control"]:
            out.extend(decode_records(mv[h["position"]:h["position"] + h["size"]]))
    return out, next_offset


def consume(client: KafkaClient, topic: str, out: IO[str], *, partitions: list[int] | None = None,
            from_beginning: bool = False, group: str | None = None, max_messages: int | None = None,
            timeout_ms: int | None = None, fmt: str = DEFAULT_FORMAT, max_wait_ms: int = 500,
            partition_max_bytes: int = 1 << 20) -> int:
    """Print records until max_messages, or timeout_ms without data (forever if neither); returns the count."""
    formatter = Formatter(fmt)
    all_parts = client.partitions(topic)
    if partitions:
        bad = [p for p in partitions if p not in all_parts]
        if bad:
            raise ToolError(f"topic {topic!r} has partitions 0-{len(all_parts) - 1}; no partition {bad[0]}")
        all_parts = sorted(set(partitions))
    reset = EARLIEST_TIMESTAMP if from_beginning else LATEST_TIMESTAMP

    positions: dict[tuple[str, int], int] = {}
    committed: dict[tuple[str, int], int] = {}
    if group:
        committed = client.offset_fetch(group, [(topic, p) for p in all_parts])
    for p in all_parts:
        tp = (topic, p)
        positions[tp] = committed[tp] if tp in committed else client.list_offsets(topic, p, reset)[0]

    count = 0
    wait = max_wait_ms if timeout_ms is None else max(0, min(max_wait_ms, timeout_ms))
    last_data = time.monotonic()
    dirty: dict[tuple[str, int], int] = {}

    def commit() -> None:
        if group and dirty:
            client.offset_commit(group, dict(dirty))
            committed.update(dirty)
            dirty.clear()

    try:
        while max_messages is None or count < max_messages:
            results = client.fetch_many(positions, partition_max_bytes=partition_max_bytes, max_wait_ms=wait)
            got_any = False
            for tp in sorted(results):
                if tp not in positions:
                    continue
                pd = results[tp]
                code = pd["error_code"]
                if code == 1:  # OFFSET_OUT_OF_RANGE: auto.offset.reset
                    new = client.list_offsets(tp[0], tp[1], reset)[0]
                    print(f"warning: offset {positions[tp]} of {tp[0]}-{tp[1]} is out of range; "
                          f"resetting to {new}", file=sys.stderr)
                    positions[tp] = new
                    continue
                if code in _RETRY_ERRORS:
                    continue
                if code:
                    raise KafkaError(code, f"fetch {tp[0]}-{tp[1]} at offset {positions[tp]}")
                records, next_offset = _records(pd["records"])
                if next_offset < 0:
                    continue
                start = positions[tp]
                lines = []
                new_pos = max(start, next_offset)
                for r in records:
                    if r.offset < start:
                        continue
                    if max_messages is not None and count >= max_messages:
                        new_pos = r.offset
                        break
                    lines.append(formatter(tp[0], tp[1], r))
                    count += 1
                if lines:
                    out.write("".join(lines))
                    got_any = True
                if new_pos != start:
                    positions[tp] = new_pos
                    dirty[tp] = new_pos
            if got_any:
                out.flush()
                last_data = time.monotonic()
            commit()
            if any(pd["error_code"] in _RETRY_ERRORS for pd in results.values()):
                time.sleep(0.1)
            if timeout_ms is not None and not got_any and (time.monotonic() - last_data) * 1000 >= timeout_ms:
                break
    finally:
        commit()  # also on Ctrl-C or a closed pipe: what was printed stays consumed
    return count
