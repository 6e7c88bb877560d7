"""The `pystream` command line: one click group, one subcommand per job.

Subcommands live in this module as plain click commands registered on `main`
(``@main.command()``); each keeps its heavy imports inside its body so that
``pystream --help`` stays fast. Planned: serve, topics, produce, consume,
groups, dump-log.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pystream")
def main() -> None:
    """pystream: Kafka-compatible event streaming with a Rust storage core."""


# ---------------------------------------------------------------------------
# bench
# ---------------------------------------------------------------------------


def _reexec_with_one_blas_thread() -> None:
    """Re-run this command with OPENBLAS_NUM_THREADS=1 if numpy is already loaded without it.

    The `pystream` package imports numpy before this module runs, so setting
    the variable here is too late for OpenBLAS; a fresh process picks it up.
    Only done for a real command line (not under click's CliRunner or when
    PYSTREAM_BENCH_NO_REEXEC is set).
    """
    if os.environ.get("OPENBLAS_NUM_THREADS") == "1" or os.environ.get("PYSTREAM_BENCH_NO_REEXEC"):
        return
    if "bench" not in sys.argv[1:] or Path(sys.argv[0]).name not in {"pystream", "cli.py"}:
        return
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, "-m", "pystream.cli", *sys.argv[1:]], env)


@main.command()
@click.option("--n", "n", type=int, default=None, help="Values per measurement [default: 1,000,000; 100,000 with --quick].")
@click.option("--value-size", type=int, default=100, show_default=True, help="Bytes per value.")
@click.option("--repeat", type=int, default=3, show_default=True, help="Runs per measurement; the best is kept.")
@click.option("--quick", is_flag=True, help="N=100,000.")
@click.option("--engines", default="pystream,reference,naive,sqlite", show_default=True, help="Comma list of engines.")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None, help="Where to create the temporary data [default: system temp dir].")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="Also write the raw results as JSON here.")
@click.option("--large-n", type=int, default=0, help="Number of 1 KiB values for the bandwidth rows [default: N/4].")
def bench(
    n: int | None,
    value_size: int,
    repeat: int,
    quick: bool,
    engines: str,
    directory: str | None,
    json_path: str | None,
    large_n: int,
) -> None:
    """Storage benchmark: pystream vs a pure-Python reference log, a naive framed log and SQLite."""
    _reexec_with_one_blas_thread()
    from rich.console import Console

    from pystream import bench as b

    if n is None:
        n = 100_000 if quick else 1_000_000
    if n < 1 or repeat < 1 or value_size < 1:
        raise click.BadParameter("--n, --repeat and --value-size must be positive")
    names = tuple(e.strip() for e in engines.split(",") if e.strip())
    unknown = [e for e in names if e not in b.ENGINES]
    if unknown:
        raise click.BadParameter(f"unknown engine(s) {', '.join(unknown)}; choose from {', '.join(b.ENGINES)}", param_hint="--engines")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
    config = b.BenchConfig(n=n, value_size=value_size, repeat=repeat, engines=names, dir=directory, large_n=large_n)

    console = Console() if sys.stdout.isatty() else Console(width=120)
    result = b.run_with_progress(config, console)
    console.print(b.render_table(result))
    if json_path:
        b.write_json(result, json_path)
        console.print(f"raw results written to {json_path}")


# ---------------------------------------------------------------------------
# serve
# ---------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=9092, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--data-dir", type=click.Path(file_okay=False), default="./pystream-data", show_default=True, help="Where the logs live.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A server.properties file with Kafka's key names (num.partitions, log.segment.bytes, ...).")
@click.option("--override", "overrides", multiple=True, metavar="KEY=VALUE", help="A config key set on the command line (repeatable).")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), default="INFO", show_default=True)
def serve(host: str, port: int, data_dir: str, config_file: str | None, overrides: tuple[str, ...], log_level: str) -> None:
    """Run a Kafka-compatible broker (kcat, confluent-kafka, kafka-python and aiokafka work unchanged)."""
    import logging

    from pystream.server.config import BrokerConfig, ConfigError, load_properties
    from pystream.server.main import run

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        props = load_properties(config_file) if config_file else {}
        for item in overrides:
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"--override expects KEY=VALUE, got {item!r}")
            props[key.strip()] = value
        config = BrokerConfig.from_sources(host, port, data_dir, props)
    except (ConfigError, OSError) as e:
        raise click.ClickException(str(e)) from None
    run(config)


if __name__ == "__main__":
    main()
