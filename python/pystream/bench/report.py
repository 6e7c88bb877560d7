"""Results of the benchmarks: where they ran, number formats, tables (rich and markdown), JSON, progress bar.

A table: columns ``(header, justify)`` and rows of cells, ``None`` for a section break (rich only).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, TypeVar

Column = tuple[str, str]  # (header, "left" | "right")
Cells = Sequence[str] | None  # None: a section break
ProgressFn = Callable[[str], None]
R = TypeVar("R")


def machine_info() -> dict[str, Any]:
    """nproc, CPU model, OS, Python and pystream versions, git commit."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = ""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).resolve().parent,
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    import pystream

    return {"nproc": os.cpu_count(), "cpu": cpu, "platform": platform.platform(), "python": platform.python_version(),
            "pystream": getattr(pystream, "__version__", ""), "git_commit": commit}


def fmt_rate(x: float, unit: str = "") -> str:
    """Records per second: ``1.23M`` from 100,000 up, ``12.3k`` below (then ``unit``)."""
    return (f"{x / 1e6:,.2f}M" if x >= 1e5 else f"{x / 1e3:,.1f}k") + unit


def verdict(passed: bool | None, markup: bool = True) -> str:
    """PASS / MISS against a goal (green / red with ``markup``); "" where there is no goal."""
    if passed is None:
        return ""
    word = "PASS" if passed else "MISS"
    return f"[{'green' if passed else 'red'}]{word}[/]" if markup else word


def rich_table(title: str, result: Any, columns: Sequence[Column], rows: Iterable[Cells], notes: Iterable[str]) -> Any:
    """A rich renderable: the table (captioned with ``result``'s machine and start time), then the notes."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    machine = result.machine
    table = Table(title=title, caption=f"{machine.get('cpu', '')} · {machine.get('nproc')} cores · {result.started}")
    for header, justify in columns:
        table.add_column(header, justify=justify, no_wrap=justify == "right")  # type: ignore[arg-type]
    for cells in rows:
        if cells is None:
            table.add_section()
        else:
            table.add_row(*cells)
    return Group(table, *(Text(f"* {line}", style="dim") for line in notes))


def markdown_table(columns: Sequence[Column], rows: Iterable[Cells]) -> str:
    """The same table as GitHub markdown (for docs/benchmarks.md)."""
    lines = [" | ".join(["", *(h for h, _ in columns), ""]).strip(),
             " | ".join(["", *("---:" if j == "right" else "---" for _, j in columns), ""]).strip()]
    lines += [" | ".join(["", *cells, ""]).strip() for cells in rows if cells is not None]
    return "\n".join(lines)


def write_json(result: Any, path: str | os.PathLike[str], footnotes: Sequence[str] = ()) -> None:
    """``result`` (a dataclass or a dict, every timing in it) and the footnotes as JSON; parent directories created."""
    data = asdict(result) if is_dataclass(result) else dict(result)
    if footnotes:
        data["footnotes"] = list(footnotes)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(data, indent=2) + "\n")


def run_and_report(label: str, total: int, run: Callable[[ProgressFn], R], render: Callable[[R], Any],
                   markdown_table: Callable[[R], str], footnotes: Sequence[str], out: Any = None,
                   json_path: str | os.PathLike[str] | None = None, markdown: bool = False) -> R:
    """``run(progress)`` behind a transient progress bar of ``total`` steps, then print ``render(result)``,
    write the JSON (if ``json_path``) and print the markdown table (if ``markdown``) on the console ``out``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    out = out or (Console() if sys.stdout.isatty() else Console(width=140))
    with Progress(TextColumn(f"[bold]{label}[/bold]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=out, transient=True) as progress:
        task = progress.add_task("starting", total=total)
        result = run(lambda step: progress.update(task, advance=1, description=step))
    out.print(render(result))
    if json_path is not None:
        write_json(result, json_path, footnotes)
        out.print(f"raw results written to {json_path}")
    if markdown:
        out.print(markdown_table(result), markup=False, highlight=False, soft_wrap=True)
    return result
