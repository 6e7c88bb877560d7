#!/usr/bin/env python3
"""Generate python/pystream/protocol/schema_data.py from Kafka's JSON message definitions.

Usage (dev time only; the package never reads the JSON at run time):

    python tools/gen_protocol_schema.py /path/to/kafka/clients/src/main/resources/common/message \
        [-o python/pystream/protocol/schema_data.py]

The JSON files carry // comments, which are stripped before parsing. Field names
are converted from CamelCase to snake_case; common structs are inlined at each
use site, so the generated schema is self-contained per message. Defaults are
converted to Python values (ints, bools, None for "null", strings).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

MAXV = 0x7FFF  # "N+" version ranges are open-ended: stored as (N, MAXV)
OUT_DEFAULT = Path(__file__).resolve().parent.parent / "python/pystream/protocol/schema_data.py"
PRIMITIVES = {
    "bool", "int8", "int16", "uint16", "int32", "uint32", "int64", "float64",
    "string", "bytes", "records", "uuid",
}


def strip_comments(text: str) -> str:
    """Remove // comments outside JSON strings."""
    out: list[str] = []
    i, n, in_str = 0, len(text), False
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
            out.append(c)
        elif c == "/" and text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def snake(name: str) -> str:
    """CamelCase -> snake_case: "ThrottleTimeMs" -> "throttle_time_ms", "KRaftVersion" -> "kraft_version"."""
    name = name.replace("KRaft", "Kraft")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def parse_versions(spec: str | None) -> tuple[int, int] | None:
    """ "3+" -> (3, MAXV); "0-4" -> (0, 4); "5" -> (5, 5); "none"/None -> None."""
    if spec is None or spec == "none":
        return None
    spec = spec.strip()
    if spec.endswith("+"):
        return (int(spec[:-1]), MAXV)
    if "-" in spec:
        lo, hi = spec.split("-")
        return (int(lo), int(hi))
    return (int(spec), int(spec))


def parse_default(ftype: str, raw: Any) -> Any:
    """Convert a JSON "default" to the Python value the codec uses."""
    if isinstance(raw, bool):
        return raw
    if raw == "null":
        return None
    if ftype in ("bool",):
        return str(raw).lower() == "true"
    if ftype.startswith("int") or ftype.startswith("uint"):
        return int(str(raw), 0)
    if ftype == "float64":
        return float(raw)
    if ftype == "string":
        return str(raw)
    raise ValueError(f"unsupported default {raw!r} for type {ftype}")


class Gen:
    def __init__(self, msg: dict[str, Any]):
        self.msg = msg
        self.common = {c["name"]: c for c in msg.get("commonStructs", [])}
        self.inline: dict[str, list[dict[str, Any]]] = {}

    def field(self, f: dict[str, Any], indent: int) -> str:
        ftype: str = f["type"]
        base = ftype[2:] if ftype.startswith("[]") else ftype
        pad = " " * indent
        args = [repr(snake(f["name"])), repr(ftype), repr(parse_versions(f["versions"]))]
        nullable = parse_versions(f.get("nullableVersions"))
        if nullable:
            args.append(f"nullable={nullable!r}")
        if "tag" in f:
            args.append(f"tag={int(f['tag'])}")
            args.append(f"tagged={parse_versions(f.get('taggedVersions'))!r}")
        if "flexibleVersions" in f:
            args.append(f"flexible={parse_versions(f['flexibleVersions'])!r}")
        if "default" in f:
            args.append(f"default={parse_default(base if not ftype.startswith('[]') else 'array', f['default'])!r}")
        if base in PRIMITIVES:
            return f"{pad}F({', '.join(args)})"
        # struct or array of structs: fields inline, or in commonStructs, or defined earlier inline
        if "fields" in f:
            sub = f["fields"]
            self.inline.setdefault(base, sub)
        elif base in self.common:
            sub = self.common[base]["fields"]
        elif base in self.inline:
            sub = self.inline[base]
        else:
            raise ValueError(f"{self.msg['name']}: unknown struct type {base}")
        inner = ",\n".join(self.field(s, indent + 4) for s in sub)
        return f"{pad}F({', '.join(args)}, fields=(\n{inner},\n{pad}))" if sub else f"{pad}F({', '.join(args)}, fields=())"

    def message(self) -> str:
        m = self.msg
        head = [
            repr(m["name"]),
            repr(m["type"]),
            repr(m.get("apiKey")),
            repr(parse_versions(m["validVersions"])),
            repr(parse_versions(m.get("flexibleVersions"))),
        ]
        if m.get("latestVersionUnstable"):
            head.append("unstable_latest=True")
        fields = ",\n".join(self.field(f, 8) for f in m["fields"])
        body = f"(\n{fields},\n    )" if m["fields"] else "()"
        return f"M({', '.join(head)}, fields={body})"


def api_const(request_name: str) -> str:
    """ "ApiVersionsRequest" -> "API_VERSIONS"."""
    return snake(request_name.removesuffix("Request")).upper()


def generate(src: Path) -> str:
    msgs = []
    for p in sorted(src.glob("*.json")):
        msgs.append(json.loads(strip_comments(p.read_text())))
    msgs.sort(key=lambda m: (m.get("apiKey", 10_000), m["type"], m["name"]))
    keys = sorted((m["apiKey"], api_const(m["name"])) for m in msgs if m["type"] == "request")
    lines = [
        '"""Kafka protocol message schemas: GENERATED, do not edit by hand.',
        "",
        "Regenerate with:",
        "    python tools/gen_protocol_schema.py <kafka>/clients/src/main/resources/common/message",
        "",
        "Source: Apache Kafka JSON message definitions (Apache License 2.0).",
        "F(name, type, versions, nullable=, tag=, tagged=, flexible=, default=, fields=) is a field;",
        "M(name, kind, api_key, valid_versions, flexible_versions, fields=) is a message.",
        f"Version ranges are inclusive (lo, hi); hi == {MAXV} means open-ended (\"N+\").",
        '"""',
        "",
        "# fmt: off",
        "from enum import IntEnum",
        "",
        "from pystream.protocol.schema import Field as F, Message as M",
        "",
        "",
        "class ApiKey(IntEnum):",
        '    """Kafka API keys."""',
        "",
    ]
    lines += [f"    {name} = {key}" for key, name in keys]
    lines += ["", "", "MESSAGES: tuple[M, ...] = ("]
    for m in msgs:
        lines.append("    " + Gen(m).message() + ",")
    lines += [")", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path, help="folder of Kafka *Request.json / *Response.json files")
    ap.add_argument("-o", "--output", type=Path, default=OUT_DEFAULT)
    ns = ap.parse_args(argv)
    text = generate(ns.src)
    ns.output.write_text(text)
    print(f"wrote {ns.output} ({len(text.splitlines())} lines)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
