"""`pystream consume TOPIC`: print records of a topic, alone or as a member of a consumer group.

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

Or kafka-console-consumer's DefaultMessageFormatter (``--property print.key=true``
...: `PropertyFormatter`).

With ``--group`` and no ``--partition`` the consumer is a member of the group
(`pystream.tools.group_member`): the group's partitions are split between its
members, it starts from the committed offsets and commits, as the group's
member, what it printed. With ``--partition`` it is a Kafka "simple consumer":
it reads those partitions itself and commits with generation -1.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

from pystream.protocol.client import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, KafkaClient, KafkaError, complete_batches
from pystream.tools import ToolError
from pystream.tools.group_member import GroupMember, MemberConfig

__all__ = ["DEFAULT_FORMAT", "ConsoleConsumer", "Formatter", "PropertyFormatter", "parse_offset", "stop_on_signals"]

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

    def __call__(self, topic: str, partition: int, record: Any, log_append_time: bool = False) -> str:
        if self.kcat:
            return "".join(p if isinstance(p, str) else p(topic, partition, record) for p in self._parts)
        return self.fmt.format(topic=topic, partition=partition, offset=record.offset, key=_text(record.key),
                               value=_text(record.value), timestamp=record.timestamp, headers=_headers(record.headers))


class PropertyFormatter:
    """kafka-console-consumer's DefaultMessageFormatter, set by --property: print.timestamp,
    print.partition, print.offset, print.headers, print.key, print.value (each false but the
    value by default), key.separator (tab), line.separator (newline), headers.separator (,),
    null.literal ("null"). Fields come in Kafka's order: CreateTime:ts, Partition:p, Offset:o,
    headers (h:v,... or NO_HEADERS), key, value."""

    KNOWN = ("print.timestamp", "print.partition", "print.offset", "print.headers", "print.key", "print.value",
             "key.separator", "line.separator", "headers.separator", "null.literal")

    def __init__(self, props: Mapping[str, str]) -> None:
        unknown = sorted(set(props) - set(self.KNOWN))
        if unknown:
            raise ToolError(f"unknown --property {unknown[0]} (known: {', '.join(self.KNOWN)})")
        flags = {}
        for key in self.KNOWN[:6]:
            value = props.get(key, "true" if key == "print.value" else "false").lower()
            if value not in ("true", "false"):
                raise ToolError(f"--property {key}={props[key]}: expected true or false")
            flags[key] = value == "true"
        self.fields = [k.split(".")[1] for k in self.KNOWN[:6] if flags[k]]
        self.key_separator = _unescape(props.get("key.separator", "\t"))
        self.line_separator = _unescape(props.get("line.separator", "\n"))
        self.headers_separator = _unescape(props.get("headers.separator", ","))
        self.null = props.get("null.literal", "null")

    def _bytes(self, b: bytes | None) -> str:
        return self.null if b is None else b.decode("utf-8", "replace")

    def __call__(self, topic: str, partition: int, record: Any, log_append_time: bool = False) -> str:
        parts = []
        for f in self.fields:
            if f == "timestamp":
                parts.append(f"{'LogAppendTime' if log_append_time else 'CreateTime'}:{record.timestamp}")
            elif f == "partition":
                parts.append(f"Partition:{partition}")
            elif f == "offset":
                parts.append(f"Offset:{record.offset}")
            elif f == "headers":
                hs = list(record.headers)
                parts.append(self.headers_separator.join(f"{k}:{self._bytes(v)}" for k, v in hs) if hs else "NO_HEADERS")
            elif f == "key":
                parts.append(self._bytes(record.key))
            else:
                parts.append(self._bytes(record.value))
        return self.key_separator.join(parts) + self.line_separator


_LOG_APPEND_TIME = 0x08  # RecordBatch attribute: the broker set the timestamps


def _records(data: Any) -> tuple[list[tuple[Any, bool]], int]:
    """(record, log append time?) of the whole batches in `data` (control batches skipped; a
    LogAppendTime batch's records carry its max timestamp, as Kafka's clients read them) and
    the offset after the last batch (-1: no whole batch)."""
    from pystream._core import Record, batch_headers, decode_records

    if data is None or len(data) == 0:
        return [], -1
    mv = complete_batches(data)
    if len(mv) == 0:
        return [], -1
    headers = batch_headers(mv)
    next_offset = max(h["last_offset"] for h in headers) + 1
    if not any(h["is_control"] or h["attributes"] & _LOG_APPEND_TIME for h in headers):
        return [(r, False) for r in decode_records(mv)], next_offset
    out = []
    for h in headers:
        if h["is_control"]:
            continue
        records = decode_records(mv[h["position"]:h["position"] + h["size"]])
        if h["attributes"] & _LOG_APPEND_TIME:
            out.extend((Record(r.offset, h["max_timestamp"], r.key, r.value, r.headers), True) for r in records)
        else:
            out.extend((r, False) for r in records)
    return out, next_offset


def parse_offset(text: str) -> int:
    """--offset: a non-negative offset, "earliest" or "latest" (as ListOffsets timestamps -2 / -1)."""
    if text == "earliest":
        return EARLIEST_TIMESTAMP
    if text == "latest":
        return LATEST_TIMESTAMP
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise ToolError(f"--offset {text!r}: a non-negative offset, 'earliest' or 'latest'")
    return n


@contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """While inside: the first SIGINT or SIGTERM calls `stop` (the loop then commits what it
    printed, leaves its group and returns); a second one interrupts at once. Only in the main
    thread (elsewhere signals stay as they are)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    seen = []

    def handler(signum: int, frame: Any) -> None:
        if seen:
            raise KeyboardInterrupt
        seen.append(signum)
        stop()

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


class ConsoleConsumer:
    """What `pystream consume` does: fetch, print, commit, until max_messages, timeout_ms
    without data, or `stop()`. `count` is the number of records printed so far."""

    def __init__(self, client: KafkaClient, topic: str, out: IO[str], *, partitions: list[int] | None = None,
                 offset: int | None = None, from_beginning: bool = False, group: str | None = None,
                 max_messages: int | None = None, timeout_ms: int | None = None,
                 formatter: Callable[..., str] | None = None, member_config: MemberConfig | None = None,
                 max_wait_ms: int = 500, partition_max_bytes: int = 1 << 20) -> None:
        self.client, self.topic, self.out = client, topic, out
        self.partitions = sorted(set(partitions)) if partitions else None
        self.offset = offset
        self.reset = EARLIEST_TIMESTAMP if from_beginning else LATEST_TIMESTAMP
        self.group = group
        self.max_messages, self.timeout_ms = max_messages, timeout_ms
        self.formatter = formatter or Formatter(DEFAULT_FORMAT)
        self.max_wait_ms, self.partition_max_bytes = max_wait_ms, partition_max_bytes
        self.member = (GroupMember(client, group, [topic], member_config)
                       if group is not None and self.partitions is None else None)
        if self.member is not None:  # fetches wait less than a heartbeat interval
            self.max_wait_ms = min(max_wait_ms, max(50, self.member.config.heartbeat_interval_ms // 2))
        self.count = 0
        self.positions: dict[tuple[str, int], int] = {}
        self._dirty: dict[tuple[str, int], int] = {}
        self._stopping = False

    def stop(self) -> None:
        """Ask the loop to finish (safe from a signal handler): it returns after the current fetch."""
        self._stopping = True

    def _start(self, parts: list[int], explicit: int | None = None) -> None:
        """Positions of a new assignment: `explicit` (--offset), else the committed offset, else the reset policy."""
        tps = [(self.topic, p) for p in parts]
        committed = self.client.offset_fetch(self.group, tps) if self.group and explicit is None and tps else {}
        self.positions = {}
        for tp in tps:
            if tp in committed:
                self.positions[tp] = committed[tp]
            elif explicit is not None and explicit >= 0:
                self.positions[tp] = explicit
            else:
                self.positions[tp] = self.client.list_offsets(tp[0], tp[1], self.reset if explicit is None else explicit)[0]
        self._dirty.clear()

    def _commit(self) -> None:
        if not self.group or not self._dirty:
            return
        dirty, self._dirty = dict(self._dirty), {}
        if self.member is None:
            self.client.offset_commit(self.group, dirty)
        elif not self.member.commit(dirty):
            print(f"warning: group {self.group!r} rebalanced before offsets {sorted(dirty.items())} were committed; "
                  "their new owner may print those records again", file=sys.stderr)

    def _done(self) -> bool:
        return self._stopping or (self.max_messages is not None and self.count >= self.max_messages)

    def run(self) -> int:
        """Consume until done; commits what was printed and leaves the group on the way out. Returns `count`."""
        all_parts = self.client.partitions(self.topic)
        if self.partitions is not None:
            bad = [p for p in self.partitions if p not in all_parts]
            if bad:
                raise ToolError(f"topic {self.topic!r} has partitions 0-{len(all_parts) - 1}; no partition {bad[0]}")
        member = self.member
        try:
            if member is None:
                self._start(self.partitions or all_parts, self.offset)
            last_data = time.monotonic()
            while not self._done():
                if member is not None:
                    member.poll()
                    if member.needs_join:
                        self._commit()  # an eager rebalance: what was printed is committed before the partitions go
                        member.ensure_joined()
                        self._start(member.assignment.get(self.topic, []))
                if self.positions:
                    got_any = self._fetch_once()
                else:  # a member with nothing assigned: stay in the group, heartbeating
                    time.sleep(min(self.max_wait_ms, 100) / 1000)
                    got_any = False
                if got_any:
                    self.out.flush()
                    last_data = time.monotonic()
                self._commit()
                if (self.timeout_ms is not None and not got_any
                        and (time.monotonic() - last_data) * 1000 >= self.timeout_ms):
                    break
        finally:
            try:
                self._commit()  # also on Ctrl-C or a closed pipe: what was printed stays consumed
            finally:
                if member is not None:
                    member.leave()
        return self.count

    def _fetch_once(self) -> bool:
        """One fetch of the assigned positions; prints what came; True if anything was printed."""
        wait = self.max_wait_ms if self.timeout_ms is None else max(0, min(self.max_wait_ms, self.timeout_ms))
        results = self.client.fetch_many(self.positions, partition_max_bytes=self.partition_max_bytes, max_wait_ms=wait)
        got_any = False
        for tp in sorted(results):
            if tp not in self.positions:
                continue
            pd = results[tp]
            code = pd["error_code"]
            if code == 1:  # OFFSET_OUT_OF_RANGE: auto.offset.reset
                new = self.client.list_offsets(tp[0], tp[1], self.reset)[0]
                print(f"warning: offset {self.positions[tp]} of {tp[0]}-{tp[1]} is out of range; "
                      f"resetting to {new}", file=sys.stderr)
                self.positions[tp] = new
                continue
            if code in _RETRY_ERRORS:
                continue
            if code:
                raise KafkaError(code, f"fetch {tp[0]}-{tp[1]} at offset {self.positions[tp]}")
            records, next_offset = _records(pd["records"])
            if next_offset < 0:
                continue
            start = self.positions[tp]
            lines = []
            new_pos = max(start, next_offset)
            for r, log_append in records:
                if r.offset < start:
                    continue
                if self.max_messages is not None and self.count >= self.max_messages:
                    new_pos = r.offset
                    break
                lines.append(self.formatter(tp[0], tp[1], r, log_append))
                self.count += 1
            if lines:
                self.out.write("".join(lines))
                got_any = True
            if new_pos != start:
                self.positions[tp] = new_pos
                self._dirty[tp] = new_pos
        if any(pd["error_code"] in _RETRY_ERRORS for pd in results.values()):
            time.sleep(0.1)
        return got_any
