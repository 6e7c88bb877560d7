"""Generic, schema-driven Kafka message encoder/decoder.

Each (message, version) is compiled once into a `_Plan`: a list of decode ops and
a list of encode ops, where runs of consecutive fixed-size fields (ints, bools,
float64) are fused into one prebuilt `struct.Struct`. Ops are module-level
functions taking their parameters as an `arg` value, so the hot loop is a plain
`for fn, ... in ops: fn(...)` without per-field closures.

Invariants:
- Decoding reads from a `memoryview` of unsigned bytes; `pos` is always an index
  into it; every reader checks bounds (slicing a memoryview never fails, so the
  readers compare against `len(buf)` explicitly).
- Encoding appends to one `bytearray` (`buf`); large `records` payloads are not
  copied: the bytes written so far are flushed into `parts` and the payload (or
  each of its chunks) is appended to `parts` as is. The encoded message is
  `parts + [buf]`, in that order.
- Any low-level failure (struct.error, IndexError, UnicodeError, TypeError, ...)
  surfaces as `ProtocolError` at the public entry points.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from typing import Any, Callable, Iterable, NamedTuple

from pystream.errors import PystreamError
from pystream.protocol.schema import TYPE_ZERO, Field, Message, in_range
from pystream.protocol.schema_data import MESSAGES

Buffer = Any  # bytes-like object (bytes, bytearray, memoryview, mmap slice) or a transport-specific chunk

# Records payloads of at least this many bytes are passed through as separate
# buffers instead of being copied into the encode buffer.
ZERO_COPY_THRESHOLD = 4096


# ---------------------------------------------------------------------------
# Errors


class ProtocolError(PystreamError, ValueError):
    """Malformed, truncated or unencodable protocol data.

    `api_key`, `api_version` and `correlation_id` are filled in when known (they
    are None when the frame was too short to read them).
    """

    def __init__(
        self,
        message: str,
        *,
        api_key: int | None = None,
        api_version: int | None = None,
        correlation_id: int | None = None,
    ):
        super().__init__(message)
        self.api_key = api_key
        self.api_version = api_version
        self.correlation_id = correlation_id

    def __str__(self) -> str:
        ctx = []
        if self.api_key is not None:
            ctx.append(f"api_key={self.api_key}")
        if self.api_version is not None:
            ctx.append(f"api_version={self.api_version}")
        if self.correlation_id is not None:
            ctx.append(f"correlation_id={self.correlation_id}")
        base = super().__str__()
        return f"{base} ({', '.join(ctx)})" if ctx else base


class UnknownApiKeyError(ProtocolError):
    """The API key is not one this codec has a schema for."""


class UnsupportedVersionError(ProtocolError):
    """The API key is known but the version is outside the schema's validVersions."""


def _truncated() -> ProtocolError:
    return ProtocolError("truncated data")


# ---------------------------------------------------------------------------
# Primitive readers: reader(buf, pos) -> (value, new_pos)

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_HH = struct.Struct(">hh")
_FIXED_CODES = {
    "bool": "?",
    "int8": "b",
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "int64": "q",
    "float64": "d",
}


def _r_uvarint(buf: memoryview, pos: int) -> tuple[int, int]:
    """Unsigned varint (at most 5 bytes: Kafka lengths and tags are 32-bit)."""
    b = buf[pos]
    pos += 1
    if b < 0x80:
        return b, pos
    result = b & 0x7F
    shift = 7
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 35:
            raise ProtocolError("unsigned varint longer than 5 bytes")


def _w_uvarint(buf: bytearray, n: int) -> None:
    if n < 0:
        raise ProtocolError(f"negative unsigned varint {n}")
    while n >= 0x80:
        buf.append((n & 0x7F) | 0x80)
        n >>= 7
    buf.append(n)


def _null_error() -> ProtocolError:
    return ProtocolError("null value for a non-nullable field")


def _r_nstring(buf: memoryview, pos: int) -> tuple[str | None, int]:
    (n,) = _I16.unpack_from(buf, pos)
    pos += 2
    if n < 0:
        return None, pos
    end = pos + n
    if end > len(buf):
        raise _truncated()
    return str(buf[pos:end], "utf-8"), end


def _r_string(buf: memoryview, pos: int) -> tuple[str, int]:
    (n,) = _I16.unpack_from(buf, pos)
    pos += 2
    if n < 0:
        raise _null_error()
    end = pos + n
    if end > len(buf):
        raise _truncated()
    return str(buf[pos:end], "utf-8"), end


def _r_ncstring(buf: memoryview, pos: int) -> tuple[str | None, int]:
    n, pos = _r_uvarint(buf, pos)
    if n == 0:
        return None, pos
    end = pos + n - 1
    if end > len(buf):
        raise _truncated()
    return str(buf[pos:end], "utf-8"), end


def _r_cstring(buf: memoryview, pos: int) -> tuple[str, int]:
    n, pos = _r_uvarint(buf, pos)
    if n == 0:
        raise _null_error()
    end = pos + n - 1
    if end > len(buf):
        raise _truncated()
    return str(buf[pos:end], "utf-8"), end


def _r_nbytes(buf: memoryview, pos: int) -> tuple[bytes | None, int]:
    (n,) = _I32.unpack_from(buf, pos)
    pos += 4
    if n < 0:
        return None, pos
    end = pos + n
    if end > len(buf):
        raise _truncated()
    return bytes(buf[pos:end]), end


def _r_bytes(buf: memoryview, pos: int) -> tuple[bytes, int]:
    v, pos = _r_nbytes(buf, pos)
    if v is None:
        raise _null_error()
    return v, pos


def _r_ncbytes(buf: memoryview, pos: int) -> tuple[bytes | None, int]:
    n, pos = _r_uvarint(buf, pos)
    if n == 0:
        return None, pos
    end = pos + n - 1
    if end > len(buf):
        raise _truncated()
    return bytes(buf[pos:end]), end


def _r_cbytes(buf: memoryview, pos: int) -> tuple[bytes, int]:
    v, pos = _r_ncbytes(buf, pos)
    if v is None:
        raise _null_error()
    return v, pos


def _r_records(buf: memoryview, pos: int) -> tuple[memoryview | None, int]:
    """Records: nullable bytes returned as a zero-copy memoryview slice of the frame."""
    (n,) = _I32.unpack_from(buf, pos)
    pos += 4
    if n < 0:
        return None, pos
    end = pos + n
    if end > len(buf):
        raise _truncated()
    return buf[pos:end], end


def _r_crecords(buf: memoryview, pos: int) -> tuple[memoryview | None, int]:
    n, pos = _r_uvarint(buf, pos)
    if n == 0:
        return None, pos
    end = pos + n - 1
    if end > len(buf):
        raise _truncated()
    return buf[pos:end], end


def _r_uuid(buf: memoryview, pos: int) -> tuple[uuid.UUID, int]:
    end = pos + 16
    if end > len(buf):
        raise _truncated()
    return uuid.UUID(bytes=bytes(buf[pos:end])), end


# ---------------------------------------------------------------------------
# Primitive writers: writer(buf, parts, value) -> None


def _encode_str(v: Any) -> bytes:
    if not isinstance(v, str):
        raise ProtocolError(f"expected str, got {type(v).__name__}")
    return v.encode("utf-8")


def _w_nstring(buf: bytearray, parts: list, v: str | None) -> None:
    if v is None:
        buf += b"\xff\xff"
        return
    b = _encode_str(v)
    if len(b) > 0x7FFF:
        raise ProtocolError("string longer than 32767 bytes")
    buf += _I16.pack(len(b))
    buf += b


def _w_string(buf: bytearray, parts: list, v: str) -> None:
    if v is None:
        raise _null_error()
    _w_nstring(buf, parts, v)


def _w_ncstring(buf: bytearray, parts: list, v: str | None) -> None:
    if v is None:
        buf.append(0)
        return
    b = _encode_str(v)
    _w_uvarint(buf, len(b) + 1)
    buf += b


def _w_cstring(buf: bytearray, parts: list, v: str) -> None:
    if v is None:
        raise _null_error()
    _w_ncstring(buf, parts, v)


def _w_nbytes(buf: bytearray, parts: list, v: Any) -> None:
    if v is None:
        buf += b"\xff\xff\xff\xff"
        return
    mv = memoryview(v)
    buf += _I32.pack(mv.nbytes)
    buf += mv


def _w_bytes(buf: bytearray, parts: list, v: Any) -> None:
    if v is None:
        raise _null_error()
    _w_nbytes(buf, parts, v)


def _w_ncbytes(buf: bytearray, parts: list, v: Any) -> None:
    if v is None:
        buf.append(0)
        return
    mv = memoryview(v)
    _w_uvarint(buf, mv.nbytes + 1)
    buf += mv


def _w_cbytes(buf: bytearray, parts: list, v: Any) -> None:
    if v is None:
        raise _null_error()
    _w_ncbytes(buf, parts, v)


def _chunk_len(c: Any) -> int:
    """Length of a records chunk: nbytes for bytes-like, else len() (transport-specific regions)."""
    try:
        return memoryview(c).nbytes
    except TypeError:
        return len(c)


def _put_records(buf: bytearray, parts: list, v: Any) -> None:
    """Append a records payload after its length prefix; big payloads go to `parts` uncopied."""
    if isinstance(v, (list, tuple)):
        chunks = v
    else:
        chunks = (v,)
    for c in chunks:
        try:
            mv = memoryview(c)
        except TypeError:
            mv = None
        if mv is not None and mv.nbytes < ZERO_COPY_THRESHOLD:
            buf += mv
            continue
        # flush what we have, then pass the chunk through untouched
        if buf:
            parts.append(bytes(buf))
            buf.clear()
        parts.append(c)


def _records_len(v: Any) -> int:
    if isinstance(v, (list, tuple)):
        return sum(_chunk_len(c) for c in v)
    return _chunk_len(v)


def _w_records(buf: bytearray, parts: list, v: Any) -> None:
    if v is None:
        buf += b"\xff\xff\xff\xff"
        return
    buf += _I32.pack(_records_len(v))
    _put_records(buf, parts, v)


def _w_crecords(buf: bytearray, parts: list, v: Any) -> None:
    if v is None:
        buf.append(0)
        return
    _w_uvarint(buf, _records_len(v) + 1)
    _put_records(buf, parts, v)


def _w_uuid(buf: bytearray, parts: list, v: Any) -> None:
    if isinstance(v, uuid.UUID):
        buf += v.bytes
        return
    if v is None:
        raise _null_error()
    b = bytes(v)
    if len(b) != 16:
        raise ProtocolError("uuid must be a uuid.UUID or 16 bytes")
    buf += b


# (type, compact, nullable) -> (reader, writer, min encoded size)
_VALUE_CODECS: dict[tuple[str, bool, bool], tuple[Callable, Callable, int]] = {
    ("string", False, False): (_r_string, _w_string, 2),
    ("string", False, True): (_r_nstring, _w_nstring, 2),
    ("string", True, False): (_r_cstring, _w_cstring, 1),
    ("string", True, True): (_r_ncstring, _w_ncstring, 1),
    ("bytes", False, False): (_r_bytes, _w_bytes, 4),
    ("bytes", False, True): (_r_nbytes, _w_nbytes, 4),
    ("bytes", True, False): (_r_cbytes, _w_cbytes, 1),
    ("bytes", True, True): (_r_ncbytes, _w_ncbytes, 1),
    # records are always nullable (Kafka treats them as nullable bytes)
    ("records", False, False): (_r_records, _w_records, 4),
    ("records", False, True): (_r_records, _w_records, 4),
    ("records", True, False): (_r_crecords, _w_crecords, 1),
    ("records", True, True): (_r_crecords, _w_crecords, 1),
    ("uuid", False, False): (_r_uuid, _w_uuid, 16),
    ("uuid", True, False): (_r_uuid, _w_uuid, 16),
}


# ---------------------------------------------------------------------------
# Compiled plans


class _Plan:
    """A struct (or whole message) compiled for one version.

    dec_ops: (fn, name, arg); fn(buf, pos, d, name, arg) -> pos, stores into dict d.
    enc_ops: (fn, arg); fn(buf, parts, obj, arg), reads from mapping obj.
    static/dynamic: decode-time defaults for fields absent in this version or
    tagged (dynamic ones are factories producing fresh lists/dicts).
    """

    __slots__ = ("name", "version", "flexible", "dec_ops", "enc_ops", "static", "dynamic",
                 "tagged_dec", "tagged_enc", "min_size")

    def __init__(self, name: str, version: int, flexible: bool):
        self.name = name
        self.version = version
        self.flexible = flexible
        self.dec_ops: list[tuple[Callable, Any, Any]] = []
        self.enc_ops: list[tuple[Callable, Any]] = []
        self.static: dict[str, Any] = {}
        self.dynamic: list[tuple[str, Callable[[], Any]]] = []
        self.tagged_dec: dict[int, tuple[Callable, Any, Any]] = {}
        # (tag, name, default, enc_fn, enc_arg), sorted by tag
        self.tagged_enc: list[tuple[int, str, Any, Callable, Any]] = []
        self.min_size = 1 if flexible else 0


def _decode_struct(buf: memoryview, pos: int, plan: _Plan) -> tuple[dict[str, Any], int]:
    d = plan.static.copy()
    for name, factory in plan.dynamic:
        d[name] = factory()
    for fn, name, arg in plan.dec_ops:
        pos = fn(buf, pos, d, name, arg)
    if plan.flexible:
        pos = _decode_tagged(buf, pos, d, plan)
    return d, pos


def _decode_tagged(buf: memoryview, pos: int, d: dict[str, Any], plan: _Plan) -> int:
    count, pos = _r_uvarint(buf, pos)
    for _ in range(count):
        tag, pos = _r_uvarint(buf, pos)
        size, pos = _r_uvarint(buf, pos)
        end = pos + size
        if end > len(buf):
            raise _truncated()
        op = plan.tagged_dec.get(tag)
        if op is None:
            # keep unknown tagged fields so a proxy can re-encode them unchanged
            d.setdefault("_unknown_tagged_fields", {})[tag] = bytes(buf[pos:end])
        else:
            fn, name, arg = op
            if fn(buf[pos:end], 0, d, name, arg) != size:
                raise ProtocolError(f"tagged field {name} (tag {tag}) has trailing bytes")
        pos = end
    return pos


def _encode_struct(buf: bytearray, parts: list, obj: Mapping[str, Any], plan: _Plan) -> None:
    for fn, arg in plan.enc_ops:
        fn(buf, parts, obj, arg)
    if plan.flexible:
        if plan.tagged_enc or "_unknown_tagged_fields" in obj:
            _encode_tagged(buf, parts, obj, plan)
        else:
            buf.append(0)  # empty tagged-fields section


def _encode_tagged(buf: bytearray, parts: list, obj: Mapping[str, Any], plan: _Plan) -> None:
    items: list[tuple[int, bytes | bytearray]] = []
    for tag, name, default, fn, arg in plan.tagged_enc:
        v = obj.get(name, default)
        if v is default or (v is None if default is None else v == default):
            continue  # tagged fields equal to their default are omitted
        tmp = bytearray()
        tparts: list = []
        fn(tmp, tparts, obj, arg)
        if tparts:
            tmp = b"".join([*(bytes(p) for p in tparts), tmp])
        items.append((tag, tmp))
    unknown = obj.get("_unknown_tagged_fields")
    if unknown:
        items.extend((int(t), bytes(b)) for t, b in unknown.items())
        items.sort(key=lambda it: it[0])
    _w_uvarint(buf, len(items))
    for tag, data in items:
        _w_uvarint(buf, tag)
        _w_uvarint(buf, len(data))
        buf += data


# --- decode ops: fn(buf, pos, d, name, arg) -> pos


def _d_fixed(buf: memoryview, pos: int, d: dict, names: tuple[str, ...], st: struct.Struct) -> int:
    d.update(zip(names, st.unpack_from(buf, pos)))
    return pos + st.size


def _d_value(buf: memoryview, pos: int, d: dict, name: str, reader: Callable) -> int:
    d[name], pos = reader(buf, pos)
    return pos


def _d_struct(buf: memoryview, pos: int, d: dict, name: str, plan: _Plan) -> int:
    d[name], pos = _decode_struct(buf, pos, plan)
    return pos


def _d_nstruct(buf: memoryview, pos: int, d: dict, name: str, plan: _Plan) -> int:
    (marker,) = _I8.unpack_from(buf, pos)
    if marker < 0:
        d[name] = None
        return pos + 1
    d[name], pos = _decode_struct(buf, pos + 1, plan)
    return pos


def _d_array(buf: memoryview, pos: int, d: dict, name: str, arg: tuple) -> int:
    """arg = (compact, nullable, kind, elem, min_size); kind: 'fixed' (struct code), 'value' (reader), 'struct' (plan)."""
    compact, nullable, kind, elem, min_size = arg
    if compact:
        n, pos = _r_uvarint(buf, pos)
        n -= 1
    else:
        (n,) = _I32.unpack_from(buf, pos)
        pos += 4
    if n < 0:
        if not nullable:
            raise _null_error()
        d[name] = None
        return pos
    if n * min_size > len(buf) - pos:
        raise _truncated()
    if kind == "fixed":
        st = struct.Struct(f">{n}{elem}")
        d[name] = list(st.unpack_from(buf, pos))
        return pos + st.size
    out = []
    append = out.append
    if kind == "struct":
        for _ in range(n):
            v, pos = _decode_struct(buf, pos, elem)
            append(v)
    else:
        for _ in range(n):
            v, pos = elem(buf, pos)
            append(v)
    d[name] = out
    return pos


# --- encode ops: fn(buf, parts, obj, arg)


def _e_fixed(buf: bytearray, parts: list, obj: Mapping, arg: tuple) -> None:
    names, defaults, st = arg
    try:
        buf += st.pack(*map(obj.get, names, defaults))
    except struct.error as e:
        for name, dflt, code in zip(names, defaults, st.format[1:]):
            v = obj.get(name, dflt)
            try:
                struct.pack(">" + code, v)
            except struct.error as e2:
                raise ProtocolError(f"field {name}: {e2} (value {v!r})") from e
        raise


def _e_value(buf: bytearray, parts: list, obj: Mapping, arg: tuple) -> None:
    name, default, writer = arg
    try:
        writer(buf, parts, obj.get(name, default))
    except ProtocolError as e:
        raise ProtocolError(f"field {name}: {e}") from None


def _e_struct(buf: bytearray, parts: list, obj: Mapping, arg: tuple) -> None:
    name, plan, nullable, default = arg
    v = obj.get(name, default)
    if v is None:
        if not nullable:
            raise ProtocolError(f"field {name}: null value for a non-nullable struct")
        buf += b"\xff"
        return
    if nullable:
        buf += b"\x01"
    _encode_struct(buf, parts, v, plan)


def _e_array(buf: bytearray, parts: list, obj: Mapping, arg: tuple) -> None:
    name, compact, nullable, kind, elem, default = arg
    v = obj.get(name, default)
    if v is None:
        if not nullable:
            raise ProtocolError(f"field {name}: null value for a non-nullable array")
        buf += b"\x00" if compact else b"\xff\xff\xff\xff"
        return
    n = len(v)
    if compact:
        _w_uvarint(buf, n + 1)
    else:
        buf += _I32.pack(n)
    if kind == "fixed":
        try:
            buf += struct.pack(f">{n}{elem}", *v)
        except struct.error as e:
            raise ProtocolError(f"field {name}: {e}") from e
    elif kind == "struct":
        for item in v:
            if type(item) is Encoded:
                buf += item
            else:
                _encode_struct(buf, parts, item, elem)
    else:
        try:
            for item in v:
                elem(buf, parts, item)
        except ProtocolError as e:
            raise ProtocolError(f"field {name}: {e}") from None


class _DefaultStruct:
    """Factory of fresh all-default dicts for a struct (precomputed: decode calls it per absent struct)."""

    __slots__ = ("static", "dynamic")

    def __init__(self, fields: Iterable[Field]):
        self.static: dict[str, Any] = {}
        self.dynamic: list[tuple[str, Callable[[], Any]]] = []
        for f in fields:
            factory = _default_factory(f)
            if factory is None:
                self.static[f.name] = f.default_value()
            else:
                self.dynamic.append((f.name, factory))

    def __call__(self) -> dict[str, Any]:
        d = self.static.copy()
        for name, factory in self.dynamic:
            d[name] = factory()
        return d


def _default_factory(f: Field) -> Callable[[], Any] | None:
    """A factory for f's default if it is mutable (list / dict), else None (share the immutable value)."""
    if f.default_value() is None:
        return None
    if f.is_array:
        return list
    if f.fields is not None:
        return _DefaultStruct(f.fields)
    return None


def _compile(name: str, fields: Iterable[Field], version: int, flexible: bool) -> _Plan:
    """Compile a field list for one version into decode/encode ops."""
    plan = _Plan(name, version, flexible)
    run_names: list[str] = []
    run_codes: list[str] = []
    run_defaults: list[Any] = []

    def flush_run() -> None:
        if not run_names:
            return
        st = struct.Struct(">" + "".join(run_codes))
        plan.dec_ops.append((_d_fixed, tuple(run_names), st))
        plan.enc_ops.append((_e_fixed, (tuple(run_names), tuple(run_defaults), st)))
        plan.min_size += st.size
        run_names.clear()
        run_codes.clear()
        run_defaults.clear()

    def add_default(f: Field) -> None:
        factory = _default_factory(f)
        if factory is None:
            plan.static[f.name] = f.default_value()
        else:
            plan.dynamic.append((f.name, factory))

    tagged: list[tuple[int, str, Any, Callable, Any]] = []
    for f in fields:
        if not in_range(version, f.versions):
            add_default(f)  # absent in this version: decode fills the default
            continue
        is_tagged = flexible and f.tag is not None and in_range(version, f.tagged)
        compact = flexible if f.flexible == "inherit" else in_range(version, f.flexible)
        nullable = in_range(version, f.nullable)
        default = f.default_value()
        if default is None and not nullable and f.type != "records":
            # a "null" default outside nullableVersions encodes as the type's empty value
            default = [] if f.is_array else {} if f.is_struct else TYPE_ZERO[f.type]
        code = _FIXED_CODES.get(f.type)
        if code is not None and not is_tagged:
            run_names.append(f.name)
            run_codes.append(code)
            run_defaults.append(default)
            continue
        dec, enc, size = _field_ops(f, version, flexible, compact, nullable, default)
        if is_tagged:
            add_default(f)
            plan.tagged_dec[f.tag] = dec
            tagged.append((f.tag, f.name, default, enc[0], enc[1]))
            continue
        flush_run()
        plan.dec_ops.append(dec)
        plan.enc_ops.append(enc)
        plan.min_size += size
    flush_run()
    plan.tagged_enc = sorted(tagged, key=lambda t: t[0])
    return plan


def _field_ops(f: Field, version: int, flexible: bool, compact: bool, nullable: bool, default: Any) -> tuple:
    """(decode op, encode op, min encoded size) for one field in one version."""
    code = _FIXED_CODES.get(f.type)
    if code is not None:  # tagged fixed-size field
        st = struct.Struct(">" + code)
        return (_d_fixed, (f.name,), st), (_e_fixed, ((f.name,), (default,), st)), st.size
    if f.is_array:
        et = f.elem_type
        if f.fields is not None:
            kind, elem = "struct", _compile(f"{f.name}[]", f.fields, version, flexible)
            dec_elem = enc_elem = elem
            min_size = elem.min_size
        elif et in _FIXED_CODES:
            kind = "fixed"
            dec_elem = enc_elem = _FIXED_CODES[et]
            min_size = struct.calcsize(">" + dec_elem)
        else:
            kind = "value"
            dec_elem, enc_elem, min_size = _VALUE_CODECS[(et, compact, False)]
        dec = (_d_array, f.name, (compact, nullable, kind, dec_elem, min_size))
        enc = (_e_array, (f.name, compact, nullable, kind, enc_elem, default))
        return dec, enc, 1 if compact else 4
    if f.fields is not None:
        sub = _compile(f.name, f.fields, version, flexible)
        dec = (_d_nstruct if nullable else _d_struct, f.name, sub)
        return dec, (_e_struct, (f.name, sub, nullable, default)), 1 if nullable else sub.min_size
    key = (f.type, compact, nullable and f.type != "uuid")
    reader, writer, size = _VALUE_CODECS[key]
    return (_d_value, f.name, reader), (_e_value, (f.name, default, writer)), size


# ---------------------------------------------------------------------------
# Schema lookup

_BY_NAME: dict[str, Message] = {m.name: m for m in MESSAGES}
_REQUESTS: dict[int, Message] = {m.api_key: m for m in MESSAGES if m.kind == "request"}
_RESPONSES: dict[int, Message] = {m.api_key: m for m in MESSAGES if m.kind == "response"}
_PLANS: dict[tuple[str, int], _Plan] = {}


def get_message(name_or_key: str | int, kind: str = "request") -> Message:
    """Schema of a message by name ("MetadataRequest") or by API key and kind ("request"/"response")."""
    if isinstance(name_or_key, str):
        try:
            return _BY_NAME[name_or_key]
        except KeyError:
            raise ProtocolError(f"unknown message {name_or_key!r}") from None
    table = _REQUESTS if kind == "request" else _RESPONSES
    msg = table.get(name_or_key)
    if msg is None:
        raise UnknownApiKeyError(f"unknown api key {name_or_key}", api_key=name_or_key)
    return msg


def plan_for(msg: Message, version: int) -> _Plan:
    """The compiled plan of `msg` at `version` (cached)."""
    plan = _PLANS.get((msg.name, version))
    if plan is None:
        if not in_range(version, msg.valid):
            raise UnsupportedVersionError(
                f"{msg.name} version {version} not in {msg.valid[0]}-{msg.valid[1]}",
                api_key=msg.api_key, api_version=version,
            )
        plan = _compile(msg.name, msg.fields, version, in_range(version, msg.flexible))
        _PLANS[(msg.name, version)] = plan
    return plan


def _msg(m: Message | str) -> Message:
    return m if isinstance(m, Message) else get_message(m)


# ---------------------------------------------------------------------------
# Body-level API (no framing, no header)


def encode_message(msg: Message | str, version: int, body: Mapping[str, Any]) -> list[Buffer]:
    """Encode one message body; returns buffers to be written in order."""
    m = _msg(msg)
    plan = plan_for(m, version)
    buf = bytearray()
    parts: list = []
    try:
        _encode_struct(buf, parts, body, plan)
    except ProtocolError as e:
        raise ProtocolError(f"cannot encode {m.name} v{version}: {e}", api_key=m.api_key, api_version=version) from e
    except (struct.error, TypeError, ValueError, AttributeError, OverflowError) as e:
        raise ProtocolError(f"cannot encode {m.name} v{version}: {e!r}", api_key=m.api_key, api_version=version) from e
    parts.append(buf)
    return parts


def decode_message(msg: Message | str, version: int, data: Buffer, pos: int = 0, *,
                   exact: bool = True) -> dict[str, Any]:
    """Decode one message body from `data[pos:]`; with `exact`, trailing bytes are an error."""
    m = _msg(msg)
    buf = _as_view(data)
    d, end = _decode_at(m, version, buf, pos)
    if exact and end != len(buf):
        raise ProtocolError(f"{m.name} v{version}: {len(buf) - end} trailing bytes", api_key=m.api_key,
                            api_version=version)
    return d


class Encoded(bytes):
    """An element of a struct array encoded beforehand (`encode_element`), written as it is:
    a response can reuse the encoding of parts that rarely change (Metadata of 10,000 topics)."""


def encode_element(msg: Message | str, version: int, path: str, obj: Mapping[str, Any]) -> Encoded:
    """Encodes `obj` as one element of the struct array at `path` (dotted field names, e.g.
    "topics" or "topics.partitions") of `msg` at `version`. Elements with records cannot be."""
    m = _msg(msg)
    plan = plan_for(m, version)
    for name in path.split("."):
        ops = [arg for fn, arg in plan.enc_ops if fn is _e_array and arg[0] == name and arg[3] == "struct"]
        if not ops:
            raise ProtocolError(f"{m.name} v{version} has no struct array {path!r}")
        plan = ops[0][4]
    buf = bytearray()
    parts: list = []
    _encode_struct(buf, parts, obj, plan)
    if parts:
        raise ProtocolError(f"{m.name} v{version} {path}: an element with records cannot be encoded ahead")
    return Encoded(buf)


def _decode_at(m: Message, version: int, buf: memoryview, pos: int) -> tuple[dict[str, Any], int]:
    plan = plan_for(m, version)
    try:
        return _decode_struct(buf, pos, plan)
    except ProtocolError as e:
        raise ProtocolError(f"cannot decode {m.name} v{version}: {e}", api_key=m.api_key, api_version=version) from e
    except (struct.error, IndexError, ValueError, TypeError, OverflowError, MemoryError) as e:
        raise ProtocolError(f"cannot decode {m.name} v{version}: {e!r}", api_key=m.api_key, api_version=version) from e


def join(parts: Iterable[Buffer]) -> bytes:
    """Concatenate encoded buffers (tests, small messages)."""
    return b"".join(bytes(p) if not isinstance(p, (bytes, bytearray, memoryview)) else p for p in parts)


# ---------------------------------------------------------------------------
# Headers and frames
#
# A frame on the wire is: int32 size, then header, then body. The functions
# below take/return the bytes AFTER the size for decoding, and return the
# size-prefixed frame as a list of buffers for encoding.

_REQUEST_HEADER = _BY_NAME["RequestHeader"]
_RESPONSE_HEADER = _BY_NAME["ResponseHeader"]
_API_VERSIONS_KEY = 18
_CONTROLLED_SHUTDOWN_KEY = 7


class RequestHeader(NamedTuple):
    """Decoded request header (client_id is None in header v0 or when the client sent null)."""

    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None = None


def is_flexible(api_key: int, api_version: int, kind: str = "request") -> bool:
    """True if this API version uses the flexible (compact + tagged fields) encoding."""
    return in_range(api_version, get_message(api_key, kind).flexible)


def request_header_version(api_key: int, api_version: int) -> int:
    """Request header version: 2 for flexible requests, 1 otherwise (0 only for ControlledShutdown v0)."""
    if api_key == _CONTROLLED_SHUTDOWN_KEY and api_version == 0:
        return 0
    return 2 if is_flexible(api_key, api_version, "request") else 1


def response_header_version(api_key: int, api_version: int) -> int:
    """Response header version: 1 for flexible responses, else 0. ApiVersions always uses 0 (KIP-511)."""
    if api_key == _API_VERSIONS_KEY:
        return 0
    return 1 if is_flexible(api_key, api_version, "response") else 0


def _as_view(data: Buffer) -> memoryview:
    mv = memoryview(data)
    return mv if mv.format == "B" and mv.ndim == 1 else mv.cast("B")


def _finish_frame(buf: bytearray, parts: list) -> list[Buffer]:
    """Patch the 4-byte size placeholder at the start of the frame; return its buffers in order."""
    if not parts:
        _I32.pack_into(buf, 0, len(buf) - 4)
        return [buf]
    if buf:
        parts.append(buf)
    size = sum(_chunk_len(p) for p in parts) - 4
    first = parts[0]  # starts with the placeholder: always a small bytes copy made by a flush
    parts[0] = _I32.pack(size) + bytes(first)[4:]
    return parts


def _encode_frame(header_msg: Message, header_version: int, header: Mapping[str, Any],
                  msg: Message, version: int, body: Mapping[str, Any]) -> list[Buffer]:
    buf = bytearray(4)  # size placeholder
    parts: list = []
    hplan = plan_for(header_msg, header_version)
    plan = plan_for(msg, version)
    try:
        _encode_struct(buf, parts, header, hplan)
        _encode_struct(buf, parts, body, plan)
    except ProtocolError as e:
        raise ProtocolError(f"cannot encode {msg.name} v{version}: {e}", api_key=msg.api_key,
                            api_version=version, correlation_id=header.get("correlation_id")) from e
    except (struct.error, TypeError, ValueError, AttributeError, OverflowError) as e:
        raise ProtocolError(f"cannot encode {msg.name} v{version}: {e!r}", api_key=msg.api_key,
                            api_version=version, correlation_id=header.get("correlation_id")) from e
    return _finish_frame(buf, parts)


def encode_request(api_key: int, api_version: int, correlation_id: int, client_id: str | None,
                   body: Mapping[str, Any]) -> list[Buffer]:
    """Encode a request (header + body) as a size-prefixed frame: a list of buffers for writelines()."""
    msg = get_message(api_key, "request")
    header = {"request_api_key": api_key, "request_api_version": api_version,
              "correlation_id": correlation_id, "client_id": client_id}
    return _encode_frame(_REQUEST_HEADER, request_header_version(api_key, api_version), header,
                         msg, api_version, body)


def encode_response(api_key: int, api_version: int, correlation_id: int,
                    body: Mapping[str, Any]) -> list[Buffer]:
    """Encode a response (header + body) as a size-prefixed frame: a list of buffers for writelines()."""
    msg = get_message(api_key, "response")
    return _encode_frame(_RESPONSE_HEADER, response_header_version(api_key, api_version),
                         {"correlation_id": correlation_id}, msg, api_version, body)


def peek_request_header(frame: Buffer) -> tuple[int | None, int | None, int | None]:
    """(api_key, api_version, correlation_id) from a request frame, None where too short."""
    mv = _as_view(frame)
    api_key = api_version = corr = None
    if len(mv) >= 4:
        api_key, api_version = _HH.unpack_from(mv, 0)
    if len(mv) >= 8:
        (corr,) = _I32.unpack_from(mv, 4)
    return api_key, api_version, corr


def decode_request(frame: Buffer, *, allow_trailing: bool = False) -> tuple[RequestHeader, dict[str, Any]]:
    """Decode a request frame (the bytes after the 4-byte size) into (header, body).

    With `allow_trailing`, bytes after the body are ignored, as Kafka's broker
    does (librdkafka 2.x sends a few after some Metadata v12 requests).

    Raises UnknownApiKeyError, UnsupportedVersionError or ProtocolError, each
    carrying api_key / api_version / correlation_id when they could be read.
    `records` fields in the body are memoryviews into `frame` (zero copy).
    """
    mv = _as_view(frame)
    api_key, api_version, corr = peek_request_header(mv)
    if corr is None:
        raise ProtocolError(f"request frame too short ({len(mv)} bytes) for a header",
                            api_key=api_key, api_version=api_version)
    msg = _REQUESTS.get(api_key)
    if msg is None:
        raise UnknownApiKeyError(f"unknown api key {api_key}", api_key=api_key, api_version=api_version,
                                 correlation_id=corr)
    if not in_range(api_version, msg.valid):
        raise UnsupportedVersionError(
            f"{msg.name} version {api_version} not in {msg.valid[0]}-{msg.valid[1]}",
            api_key=api_key, api_version=api_version, correlation_id=corr)
    try:
        h, pos = _decode_at(_REQUEST_HEADER, request_header_version(api_key, api_version), mv, 0)
        body, pos = _decode_at(msg, api_version, mv, pos)
        if pos != len(mv) and not allow_trailing:
            raise ProtocolError(f"{len(mv) - pos} trailing bytes after {msg.name} v{api_version}")
    except ProtocolError as e:
        e.api_key, e.api_version, e.correlation_id = api_key, api_version, corr
        raise
    return RequestHeader(api_key, api_version, corr, h["client_id"]), body


def decode_response(api_key: int, api_version: int, frame: Buffer) -> tuple[int, dict[str, Any]]:
    """Decode a response frame (bytes after the 4-byte size) into (correlation_id, body).

    The caller knows api_key/api_version from the request it sent (match by
    `peek_correlation_id(frame)` first if needed).
    """
    msg = get_message(api_key, "response")
    mv = _as_view(frame)
    corr = peek_correlation_id(mv)
    try:
        h, pos = _decode_at(_RESPONSE_HEADER, response_header_version(api_key, api_version), mv, 0)
        body, pos = _decode_at(msg, api_version, mv, pos)
        if pos != len(mv):
            raise ProtocolError(f"{len(mv) - pos} trailing bytes after {msg.name} v{api_version}")
    except ProtocolError as e:
        e.api_key, e.api_version, e.correlation_id = api_key, api_version, corr
        raise
    return h["correlation_id"], body


def peek_correlation_id(frame: Buffer) -> int | None:
    """Correlation id of a response frame (its first 4 bytes), None if too short."""
    mv = _as_view(frame)
    return _I32.unpack_from(mv, 0)[0] if len(mv) >= 4 else None


# ---------------------------------------------------------------------------
# Supported versions (for ApiVersions)


def _version_table() -> dict[int, tuple[int, int]]:
    table = {}
    for key, req in _REQUESTS.items():
        resp = _RESPONSES.get(key)
        if resp is None:
            continue
        lo = max(req.valid[0], resp.valid[0])
        hi = min(req.stable_max, resp.stable_max)
        if lo <= hi:
            table[key] = (lo, hi)
    return dict(sorted(table.items()))


SUPPORTED_VERSIONS: dict[int, tuple[int, int]] = _version_table()
"""api_key -> (min_version, max_version) the codec can handle (stable versions from the JSON)."""


def api_versions_entries(api_keys: Iterable[int] | None = None,
                         max_overrides: Mapping[int, int] | None = None) -> list[dict[str, int]]:
    """`api_keys` entries for an ApiVersions response: [{api_key, min_version, max_version}].

    `api_keys` restricts the list (default: all); `max_overrides` lowers maxima
    (a server that implements only part of an API's versions).
    """
    keys = SUPPORTED_VERSIONS.keys() if api_keys is None else api_keys
    out = []
    for k in keys:
        lo, hi = SUPPORTED_VERSIONS[k]
        if max_overrides and k in max_overrides:
            hi = min(hi, max_overrides[k])
        if lo <= hi:
            out.append({"api_key": int(k), "min_version": lo, "max_version": hi})
    return out
