"""The `pystream` command line: one click group, one subcommand per job.

Subcommands live in this module as plain click commands registered on `main`
(``@main.command()``); each keeps its heavy imports inside its body so that
``pystream --help`` stays fast. Planned: serve, topics, produce, consume,
groups, dump-log.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
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
@click.option("--broker", "broker_bench", is_flag=True,
              help="Run the broker benchmark instead: librdkafka producer/consumer against `pystream serve` "
                   "(and nafka when installed with benches/run_broker.py --install-nafka).")
@click.option("--cluster", "cluster_bench", is_flag=True,
              help="Run the cluster benchmark instead: ZooKeeper and three brokers, RF=3 vs RF=1 acks=all "
                   "throughput and failover time after a leader SIGKILL [--n default: 300,000].")
@click.option("--compaction", "compaction_bench", is_flag=True,
              help="Run the log compaction benchmark instead: cleaning throughput of a 1 GiB log of --value-size "
                   "values over 100,000 keys beside the sequential-read bandwidth of the same files "
                   "[--quick: 128 MiB over 10,000 keys].")
def bench(
    n: int | None,
    value_size: int,
    repeat: int,
    quick: bool,
    engines: str,
    directory: str | None,
    json_path: str | None,
    large_n: int,
    broker_bench: bool,
    cluster_bench: bool,
    compaction_bench: bool,
) -> None:
    """Storage benchmark: pystream vs a pure-Python reference log, a naive framed log and SQLite.

    With --broker: the broker benchmark (produce/consume throughput against the client's own
    ceiling and nafka, broker CPU per million records, latency at 10,000 records/s).
    With --cluster: the cluster benchmark (needs ZooKeeper).
    With --compaction: the log cleaner's throughput beside plain sequential reads."""
    _reexec_with_one_blas_thread()
    if n is None:
        n = 100_000 if quick else (300_000 if cluster_bench else 1_000_000)
    if n < 1 or repeat < 1 or value_size < 1:
        raise click.BadParameter("--n, --repeat and --value-size must be positive")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
    if broker_bench:
        from pystream.bench import broker

        broker.run_and_report(broker.BrokerBenchConfig(n=n, value_size=value_size, repeat=repeat, dir=directory),
                              json_path=json_path)
        return
    if compaction_bench:
        from pystream.bench import compaction

        size, keys = ((128 << 20, 10_000) if quick else (1 << 30, 100_000))
        compaction.run_and_report(compaction.CompactionBenchConfig(log_bytes=size, keys=keys, value_size=value_size,
                                                                   dir=directory), json_path=json_path)
        return
    if cluster_bench:
        from pystream.bench import cluster, procs

        if procs.zookeeper_missing():
            raise click.ClickException(procs.zookeeper_missing())
        cluster.run_and_report(cluster.ClusterBenchConfig(n=n, repeat=repeat, dir=directory), json_path=json_path)
        return
    from pystream.bench import storage as b

    names = tuple(e.strip() for e in engines.split(",") if e.strip())
    unknown = [e for e in names if e not in b.ENGINES]
    if unknown:
        raise click.BadParameter(f"unknown engine(s) {', '.join(unknown)}; choose from {', '.join(b.ENGINES)}", param_hint="--engines")
    config = b.BenchConfig(n=n, value_size=value_size, repeat=repeat, engines=names, dir=directory, large_n=large_n)
    b.run_and_report(config, json_path=json_path)


# ---------------------------------------------------------------------------
# serve
# ---------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=9092, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--data-dir", default=None, metavar="DIR[,DIR...]",
              help="Where the logs live (overrides log.dirs; several comma-separated directories share the partitions) "
                   "[default: log.dirs or log.dir from --config, else ./pystream-data].")
@click.option("--broker-id", type=int, default=None, help="This broker's id in a cluster (broker.id) [default: 0].")
@click.option("--zookeeper", default=None, metavar="HOST:PORT[/CHROOT]",
              help="Join the cluster coordinated by this ZooKeeper (zookeeper.connect); without it, a single broker.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A server.properties file with Kafka's key names (num.partitions, log.segment.bytes, ...).")
@click.option("--override", "overrides", multiple=True, metavar="KEY=VALUE", help="A config key set on the command line (repeatable).")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), default="INFO", show_default=True)
@click.option("--pid-file", type=click.Path(dir_okay=False), default=None,
              help="Write the broker's process id here once it listens (removed at a clean shutdown) "
                   "[default: pystream.pid in the (first) log directory].")
def serve(host: str, port: int, data_dir: str | None, broker_id: int | None, zookeeper: str | None, config_file: str | None,
          overrides: tuple[str, ...], log_level: str, pid_file: str | None) -> None:
    """Run a Kafka-compatible broker (kcat, confluent-kafka, kafka-python and aiokafka work unchanged).

    Every broker config Kafka defines is accepted; one it does not act on, or an unknown key, is a
    WARNING at start; a bad value is an error (exit status 1), as are a port in use and a log
    directory that cannot be written or is held by a running broker: nothing is written then."""
    import logging

    from pystream.server.config import BrokerConfig, ConfigError, load_properties
    from pystream.serve import StartupError, run

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        props = load_properties(config_file) if config_file else {}
        for item in overrides:
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"--override expects KEY=VALUE, got {item!r}")
            props[key.strip()] = value
        if broker_id is not None:
            props["broker.id"] = str(broker_id)
        if zookeeper:
            props["zookeeper.connect"] = zookeeper
        config = BrokerConfig.from_sources(host, port, data_dir, props)
    except (ConfigError, OSError) as e:
        where = f"{config_file} or --override" if config_file else "--override"
        raise click.ClickException(f"{e} (fix it in {where})") from None
    from pystream.errors import LogDirectoryError

    try:
        run(config, Path(pid_file) if pid_file else None)
    except (StartupError, LogDirectoryError) as e:  # one line saying what to do; nothing written
        raise click.ClickException(str(e)) from None


# ---------------------------------------------------------------------------
# Kafka-protocol tools: topics, produce, consume, groups (logic in pystream.tools)
# ---------------------------------------------------------------------------

_bootstrap_option = click.option(
    "--bootstrap-server", "-b", "bootstrap", default="127.0.0.1:9092", show_default=True, metavar="HOST:PORT[,...]",
    envvar="PYSTREAM_BOOTSTRAP_SERVER", show_envvar=True, help="Broker(s) to bootstrap from (pystream or Apache Kafka).")


def _run_tool(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Call a pystream.tools function; ToolError (Kafka errors included) -> message on stderr, exit 1."""
    from pystream.tools import ToolError

    try:
        return fn(*args, **kwargs)
    except ToolError as e:
        raise click.ClickException(str(e)) from None


def _console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(soft_wrap=True) if sys.stdout.isatty() else Console(width=200, soft_wrap=True)


@contextmanager
def _progress(label: str, total: int | None):  # type: ignore[no-untyped-def]
    """A transient rich progress bar on stderr while a long operation runs (only when stderr is a
    terminal: scripts get clean output). Yields step(advance=1, description="", completed=None)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda advance=1, description="", completed=None: None
        return
    with Progress(TextColumn(f"[bold]{label}[/bold]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, transient=True) as progress:
        task = progress.add_task("", total=total)

        def step(advance: int = 1, description: str = "", completed: int | None = None) -> None:
            if completed is not None:
                progress.update(task, completed=completed, description=description)
            else:
                progress.update(task, advance=advance, description=description)

        yield step


@main.group()
def topics() -> None:
    """Create, list, describe, alter and delete topics."""


@topics.command("create")
@click.argument("name")
@click.option("--partitions", "-p", type=int, default=-1, help="Partition count [default: the broker's num.partitions].")
@click.option("--replication-factor", "-r", type=int, default=-1,
              help="Replicas per partition [default: the broker's default.replication.factor].")
@click.option("--config", "-c", "configs", multiple=True, metavar="KEY=VALUE", help="A topic config (repeatable), e.g. retention.ms=60000.")
@click.option("--if-not-exists", is_flag=True, help="Do nothing (and succeed) when the topic exists.")
@_bootstrap_option
def topics_create(name: str, partitions: int, replication_factor: int, configs: tuple[str, ...], if_not_exists: bool,
                  bootstrap: str) -> None:
    """Create topic NAME."""
    from pystream.tools import kafka_client
    from pystream.tools import topics as t

    def go() -> None:
        cfg = t.parse_configs(configs)
        with kafka_client(bootstrap) as client:
            res = t.create(client, name, partitions, replication_factor, cfg, if_not_exists=if_not_exists)
        if res is None:
            return  # it exists: --if-not-exists says nothing, as kafka-topics
        n = res.get("num_partitions", partitions)
        click.echo(f"Created topic {name}" + (f" with {n} partition(s)" if n and n > 0 else "") + ".")

    _run_tool(go)


@topics.command("alter")
@click.argument("name")
@click.option("--partitions", "-p", type=int, default=None, help="The new partition count (only grows).")
@click.option("--config", "-c", "configs", multiple=True, metavar="KEY=VALUE", help="Set a topic config (repeatable).")
@click.option("--delete-config", "delete_configs", multiple=True, metavar="KEY",
              help="Remove a topic config: the broker default applies again (repeatable).")
@_bootstrap_option
def topics_alter(name: str, partitions: int | None, configs: tuple[str, ...], delete_configs: tuple[str, ...],
                 bootstrap: str) -> None:
    """Add partitions to topic NAME (CreatePartitions) or change its configs (IncrementalAlterConfigs)."""
    from pystream.tools import kafka_client
    from pystream.tools import topics as t

    def go() -> None:
        cfg = t.parse_configs(configs)
        with kafka_client(bootstrap) as client:
            for line in t.alter(client, name, partitions, cfg, delete_configs):
                click.echo(line)

    _run_tool(go)


@topics.command("list")
@click.option("--all", "-a", "include_internal", is_flag=True, help="Include internal topics (__consumer_offsets).")
@click.option("--names-only", "-q", is_flag=True, help="One topic name per line, no table.")
@_bootstrap_option
def topics_list(include_internal: bool, names_only: bool, bootstrap: str) -> None:
    """List topics with their partition counts."""
    from pystream.tools import kafka_client
    from pystream.tools import topics as t

    def go() -> None:
        with kafka_client(bootstrap) as client:
            rows = t.list_topics(client, include_internal)
        if names_only:
            for r in rows:
                click.echo(r["name"])
        else:
            _console().print(t.render_list(rows))

    _run_tool(go)


@topics.command("describe")
@click.argument("names", nargs=-1)
@click.option("--all", "-a", "include_internal", is_flag=True, help="With no NAME: include internal topics.")
@click.option("--under-replicated-partitions", "under_replicated", is_flag=True,
              help="Only the partitions whose ISR is smaller than their replica set.")
@click.option("--unavailable-partitions", "unavailable", is_flag=True, help="Only the partitions without a leader.")
@_bootstrap_option
def topics_describe(names: tuple[str, ...], include_internal: bool, under_replicated: bool, unavailable: bool,
                    bootstrap: str) -> None:
    """Partitions (leader, replicas, ISR) and configs of the topics NAMES [default: every topic].

    With several topics only the configs each topic sets are shown; with a
    partition filter, one table of the matching partitions (nothing when all
    is well).
    """
    from pystream.tools import kafka_client
    from pystream.tools import topics as t

    def go() -> None:
        keep = t.partition_filter(under_replicated, unavailable)
        with kafka_client(bootstrap) as client:
            ds = t.describe_many(client, names or None, include_internal, with_configs=keep is None)
        console = _console()
        if keep is not None:
            table = t.render_partitions(ds, keep)
            if table.row_count:
                console.print(table)
            return
        for d in ds:
            for part in t.render_describe(d, all_configs=len(ds) == 1):
                console.print(part)

    _run_tool(go)


@topics.command("delete")
@click.argument("name")
@_bootstrap_option
def topics_delete(name: str, bootstrap: str) -> None:
    """Delete topic NAME and its data."""
    from pystream.tools import kafka_client
    from pystream.tools import topics as t

    def go() -> None:
        with kafka_client(bootstrap) as client:
            t.delete(client, name)
        click.echo(f"Deleted topic {name}.")

    _run_tool(go)


@main.command()
@click.argument("topic")
@click.option("--key-separator", "-K", default=None, metavar="SEP",
              help="Split each line at the first SEP into key and value (lines without SEP get a null key).")
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE[,KEY=VALUE]",
              help="kafka-console-producer's line reader: parse.key, key.separator (tab), parse.headers, "
                   "headers.delimiter (tab), headers.separator (,), headers.key.separator (:), null.marker, "
                   "ignore.error (repeatable), e.g. --property parse.key=true,key.separator=:")
@click.option("--header", "-H", "headers", multiple=True, metavar="KEY=VALUE",
              help="A header added to every record (repeatable).")
@click.option("--partition", "-p", type=int, default=None,
              help="Send everything to this partition [default: murmur2(key) for keyed lines, sticky for the rest].")
@click.option("--acks", type=click.Choice(["all", "-1", "0", "1"]), default="all", show_default=True)
@click.option("--idempotence/--no-idempotence", default=None,
              help="Producer id, epoch and sequence numbers in every batch, so a resent batch is written once "
                   "[default: on with acks=all, off otherwise, as Kafka's enable.idempotence].")
@click.option("--compression", "-z", type=click.Choice(["none", "gzip", "snappy", "lz4", "zstd"]), default="none", show_default=True)
@click.option("--batch-size", type=int, default=1000, show_default=True, help="Max lines per RecordBatch.")
@click.option("--batch-bytes", type=int, default=1_000_000, show_default=True, help="Max bytes per RecordBatch.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print the summary on stderr.")
@_bootstrap_option
def produce(topic: str, key_separator: str | None, properties: tuple[str, ...], headers: tuple[str, ...],
            partition: int | None, acks: str, idempotence: bool | None, compression: str, batch_size: int,
            batch_bytes: int, quiet: bool, bootstrap: str) -> None:
    """Send lines from stdin to TOPIC, one record per line (kafka-console-producer).

    Lines are batched (--batch-size / --batch-bytes) for throughput; when stdin
    is a terminal each line is sent as soon as it is typed. A topic that does not
    exist is created when the broker auto-creates topics.
    """
    from pystream.tools import kafka_client, parse_properties
    from pystream.tools import produce as pr

    if batch_size < 1 or batch_bytes < 1:
        raise click.BadParameter("must be positive", param_hint="--batch-size/--batch-bytes")
    stdin = sys.stdin.buffer

    def go() -> None:
        props = parse_properties(properties, "--property")
        if key_separator:
            props.setdefault("parse.key", "true")
            props.setdefault("key.separator", key_separator)
            props.setdefault("ignore.error", "true")
        fmt = pr.LineFormat.from_properties(props, pr.parse_header_options(headers))
        idempotent = pr.ACKS[acks] == -1 if idempotence is None else idempotence
        with kafka_client(bootstrap) as client:
            stats = pr.produce_lines(client, topic, stdin, line_format=fmt, partition=partition, acks=pr.ACKS[acks],
                                     compression=compression, batch_records=batch_size, batch_bytes=batch_bytes,
                                     flush_each_line=stdin.isatty(), idempotent=idempotent)
        if not quiet:
            parts = ", ".join(f"{p}: {n}" for p, n in sorted(stats["partitions"].items()))
            click.echo(f"Produced {stats['records']} record(s) to {topic} in {stats['batches']} batch(es)"
                       + (f" (partition: records {parts})" if parts else "")
                       + (f", idempotent producer id {stats['producer_id']}" if stats["producer_id"] >= 0 else "")
                       + ".", err=True)

    _run_tool(go)


@main.command()
@click.argument("topic")
@click.option("--from-beginning", is_flag=True,
              help="Without a committed offset, start at the log start [default: at the end, new records only].")
@click.option("--group", "-g", default=None,
              help="Consume as a member of this consumer group: its partitions are split between its members, "
                   "it starts from the committed offsets and commits what it printed (with --partition: "
                   "those partitions, committed without joining).")
@click.option("--partition", "-p", "partitions", type=int, multiple=True, help="Only this partition (repeatable).")
@click.option("--offset", default=None, metavar="N|earliest|latest",
              help="Start at this offset of each --partition (needs --partition).")
@click.option("--max-messages", "-n", type=int, default=None, help="Exit after this many records.")
@click.option("--timeout-ms", type=int, default=None, help="Exit after this long without new records [default: never].")
@click.option("--format", "-f", "fmt", default=None,
              help="Output per record [default: %v]. kcat tokens: %t topic, %p partition, %o offset, %k key, %v/%s value, "
                   "%K/%S key/value length, %T timestamp ms, %h headers, %%; or a Python format string with "
                   "{topic} {partition} {offset} {key} {value} {timestamp} {headers}. \\n and \\t are escapes; "
                   "a newline is added unless the format ends with one.")
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE[,KEY=VALUE]",
              help="kafka-console-consumer's formatter instead of --format: print.timestamp, print.partition, "
                   "print.offset, print.headers, print.key, print.value, key.separator, line.separator, "
                   "headers.separator, null.literal (repeatable), e.g. --property print.key=true,key.separator=:")
@click.option("--consumer-property", "consumer_properties", multiple=True, metavar="KEY=VALUE",
              help="Group membership settings: session.timeout.ms (45000), heartbeat.interval.ms (3000), "
                   "max.poll.interval.ms (300000), metadata.max.age.ms (300000), group.instance.id (repeatable).")
@_bootstrap_option
def consume(topic: str, from_beginning: bool, group: str | None, partitions: tuple[int, ...], offset: str | None,
            max_messages: int | None, timeout_ms: int | None, fmt: str | None, properties: tuple[str, ...],
            consumer_properties: tuple[str, ...], bootstrap: str) -> None:
    """Print the records of TOPIC to stdout (kafka-console-consumer).

    Ctrl-C (or SIGTERM) commits what was printed, leaves the group, and prints
    "Processed a total of N messages" on stderr, as every exit does.
    """
    from pystream.tools import kafka_client, parse_properties
    from pystream.tools import consume as co
    from pystream.tools.group_member import MemberConfig

    if offset is not None and not partitions:
        raise click.UsageError("--offset needs --partition (the partition(s) to start at that offset)")
    if offset is not None and from_beginning:
        raise click.UsageError("--offset and --from-beginning cannot be used together")
    if fmt is not None and properties:
        raise click.UsageError("--format and --property cannot be used together")
    if max_messages is not None and max_messages < 1:
        raise click.BadParameter("must be positive", param_hint="--max-messages")
    out = sys.stdout
    counted: list[co.ConsoleConsumer] = []

    def go() -> None:
        formatter = co.PropertyFormatter(parse_properties(properties, "--property")) if properties else co.Formatter(fmt or "%v")
        member_config = MemberConfig.from_properties(parse_properties(consumer_properties, "--consumer-property"))
        start = co.parse_offset(offset) if offset is not None else None
        with kafka_client(bootstrap) as client:
            consumer = co.ConsoleConsumer(client, topic, out, partitions=list(partitions) or None, offset=start,
                                          from_beginning=from_beginning, group=group, max_messages=max_messages,
                                          timeout_ms=timeout_ms, formatter=formatter, member_config=member_config)
            counted.append(consumer)
            try:
                with co.stop_on_signals(consumer.stop):
                    consumer.run()
            except KeyboardInterrupt:
                pass
            except BrokenPipeError:
                sys.stderr.close()

    try:
        _run_tool(go)
    finally:
        if counted and not sys.stderr.closed:
            click.echo(f"Processed a total of {counted[0].count} messages", err=True)


@main.group()
def groups() -> None:
    """List and describe consumer groups (members, committed offsets, lag)."""


@groups.command("list")
@_bootstrap_option
def groups_list(bootstrap: str) -> None:
    """List consumer groups."""
    from pystream.tools import groups as g
    from pystream.tools import kafka_client

    def go() -> None:
        with kafka_client(bootstrap) as client:
            rows = g.list_groups(client)
        _console().print(g.render_list(rows))

    _run_tool(go)


@groups.command("describe")
@click.argument("group")
@_bootstrap_option
def groups_describe(group: str, bootstrap: str) -> None:
    """Members of GROUP, and per partition its committed offset, log end offset and lag."""
    from pystream.tools import groups as g
    from pystream.tools import kafka_client

    def go() -> None:
        with kafka_client(bootstrap) as client:
            d = g.describe(client, group)
        console = _console()
        for part in g.render_describe(d):
            console.print(part)

    _run_tool(go)



@groups.command("delete")
@click.argument("names", nargs=-1, required=True)
@_bootstrap_option
def groups_delete(names: tuple[str, ...], bootstrap: str) -> None:
    """Delete consumer groups NAMES and their committed offsets (DeleteGroups; a group must have no members)."""
    from pystream.tools import ToolError, kafka_client
    from pystream.tools import groups as g

    def go() -> None:
        with kafka_client(bootstrap) as client:
            results = g.delete(client, names)
        failed = {n: e for n, e in results.items() if e}
        if not failed:
            click.echo(f"Deletion of requested consumer groups ({', '.join(repr(n) for n in names)}) was successful.")
            return
        for n in names:
            if n not in failed:
                click.echo(f"Deleted group {n!r}.")
        raise ToolError("deletion of some consumer groups failed:\n" + "\n".join(
            f"* group {n!r} could not be deleted: {e}" + (" (it has members: stop them first)" if e == "NON_EMPTY_GROUP" else "")
            for n, e in failed.items()))

    _run_tool(go)


@groups.command("reset-offsets")
@click.option("--group", "-g", required=True, help="The consumer group (it must have no active members).")
@click.option("--topic", "-t", "topic_specs", multiple=True, metavar="TOPIC[:P,P]",
              help="A topic, or some of its partitions (repeatable).")
@click.option("--all-topics", is_flag=True, help="Every topic the group has committed offsets for.")
@click.option("--to-earliest", "spec", flag_value="earliest", help="To the log start offset.")
@click.option("--to-latest", "spec", flag_value="latest", help="To the log end offset.")
@click.option("--to-current", "spec", flag_value="current", help="To the committed offset (the log end without one).")
@click.option("--to-offset", type=int, default=None, metavar="N", help="To offset N (clamped to the log's range).")
@click.option("--to-datetime", default=None, metavar="YYYY-MM-DDTHH:mm:SS.sss",
              help="To the first record at or after this time (local, or with a zone: Z, +01:00).")
@click.option("--shift-by", type=int, default=None, metavar="N", help="Move the committed offsets by N (may be negative).")
@click.option("--by-duration", default=None, metavar="PnDTnHnMnS",
              help="To the first record at or after now minus this duration, e.g. PT30M or P1DT2H.")
@click.option("--dry-run", is_flag=True, help="Print the plan only (the default).")
@click.option("--execute", is_flag=True, help="Commit the new offsets.")
@_bootstrap_option
def groups_reset_offsets(group: str, topic_specs: tuple[str, ...], all_topics: bool, spec: str | None,
                         to_offset: int | None, to_datetime: str | None, shift_by: int | None, by_duration: str | None,
                         dry_run: bool, execute: bool, bootstrap: str) -> None:
    """Move a group's committed offsets (kafka-consumer-groups --reset-offsets) and print the plan:
    GROUP TOPIC PARTITION NEW-OFFSET.

    \b
    pystream groups reset-offsets -g G --topic T --to-earliest --execute
    pystream groups reset-offsets -g G --topic T:0,1 --shift-by -10 --dry-run
    pystream groups reset-offsets -g G --all-topics --to-datetime 2024-05-01T12:00:00.000Z --execute
    """
    from pystream.tools import kafka_client
    from pystream.tools import groups as g

    chosen = [x for x in (spec, to_offset, to_datetime, shift_by, by_duration) if x is not None]
    if len(chosen) != 1:
        raise click.UsageError("give one of --to-earliest, --to-latest, --to-current, --to-offset, --to-datetime, "
                               "--shift-by, --by-duration")
    if bool(topic_specs) == all_topics:
        raise click.UsageError("give --topic T[:P,P] (repeatable) or --all-topics")
    if dry_run and execute:
        raise click.UsageError("--dry-run and --execute cannot be used together")

    def go() -> None:
        if to_offset is not None:
            reset = g.ResetSpec("offset", to_offset)
        elif to_datetime is not None:
            reset = g.ResetSpec("datetime", g.parse_datetime(to_datetime))
        elif shift_by is not None:
            reset = g.ResetSpec("shift", shift_by)
        elif by_duration is not None:
            reset = g.ResetSpec("duration", g.parse_duration(by_duration))
        else:
            reset = g.ResetSpec(str(spec))
        topics = g.parse_topic_partitions(topic_specs) if topic_specs else None
        with kafka_client(bootstrap) as client:
            total = None
            if topics is not None:
                total = sum(len(ps) if ps is not None else len(client.partitions(t)) for t, ps in topics.items())
            with _progress("Planning", total) as step:
                plan = g.plan_reset(client, group, topics, reset, lambda n, what: step(n, what))
            if execute:
                with _progress("Resetting offsets", len(plan)) as step:
                    g.execute_reset(client, group, plan, lambda n, what: step(n, what))
        _console().print(g.render_plan(group, plan))
        if not execute:
            click.echo("(dry run: nothing committed; --execute commits these offsets)", err=True)

    _run_tool(go)


# ---------------------------------------------------------------------------
# configs, log-dirs (logic in pystream.tools.configs / log_dirs)
# ---------------------------------------------------------------------------


@main.group("configs")
def configs_group() -> None:
    """Describe and alter topic and broker configs (kafka-configs)."""


_entity_options = [
    click.option("--entity-type", type=click.Choice(["topics", "brokers"]), required=True),
    click.option("--entity-name", default=None, help="The topic, or the broker id."),
    click.option("--entity-default", is_flag=True, help="Brokers: the cluster-wide default of every broker."),
    _bootstrap_option,
]


def _with_entity_options(fn):  # type: ignore[no-untyped-def]
    for opt in reversed(_entity_options):
        fn = opt(fn)
    return fn


@configs_group.command("describe")
@_with_entity_options
@click.option("--all", "include_all", is_flag=True, help="Every config with its source, not only those set on the entity.")
def configs_describe(entity_type: str, entity_name: str | None, entity_default: bool, bootstrap: str,
                     include_all: bool) -> None:
    """Configs set on a topic or broker (--all: every config and where its value comes from).
    Without --entity-name: every topic, or every broker."""
    from pystream.tools import configs as c
    from pystream.tools import kafka_client

    def go() -> None:
        with kafka_client(bootstrap) as client:
            described = c.describe(client, entity_type, entity_name, entity_default, include_all)
        console = _console()
        for part in c.render(described, include_all):
            console.print(part)

    _run_tool(go)


@configs_group.command("alter")
@_with_entity_options
@click.option("--add-config", "add_configs", multiple=True, metavar="K=V[,K2=V2]",
              help="Set configs; a list value in brackets: k=[a,b] (repeatable).")
@click.option("--delete-config", "delete_configs", multiple=True, metavar="K[,K2]", help="Remove configs (repeatable).")
def configs_alter(entity_type: str, entity_name: str | None, entity_default: bool, bootstrap: str,
                  add_configs: tuple[str, ...], delete_configs: tuple[str, ...]) -> None:
    """Set or remove configs of a topic, a broker, or (brokers without a name) the cluster default
    (IncrementalAlterConfigs)."""
    from pystream.tools import configs as c
    from pystream.tools import kafka_client

    def go() -> None:
        add = c.parse_add_config(add_configs)
        delete = [k.strip() for item in delete_configs for k in item.split(",") if k.strip()]
        with kafka_client(bootstrap) as client:
            click.echo(c.alter(client, entity_type, entity_name, entity_default, add, delete))

    _run_tool(go)


@main.command("log-dirs")
@click.option("--broker-list", default=None, metavar="ID,ID", help="Only these brokers [default: all].")
@click.option("--topic-list", default=None, metavar="TOPIC,TOPIC", help="Only these topics [default: all].")
@click.option("--json", "as_json", is_flag=True, help="kafka-log-dirs' JSON instead of tables.")
@_bootstrap_option
def log_dirs(broker_list: str | None, topic_list: str | None, as_json: bool, bootstrap: str) -> None:
    """Each broker's log directories: partitions, their size and offset lag, free space
    (DescribeLogDirs; kafka-log-dirs --describe)."""
    import json

    from pystream.tools import ToolError, kafka_client
    from pystream.tools import log_dirs as ld

    def go() -> None:
        brokers = ld.parse_id_list(broker_list, "--broker-list")
        try:
            ids = None if brokers is None else [int(b) for b in brokers]
        except ValueError:
            raise ToolError(f"--broker-list {broker_list!r}: broker ids are integers") from None
        with kafka_client(bootstrap) as client:
            rows = ld.describe(client, ids, ld.parse_id_list(topic_list, "--topic-list"))
        if as_json:
            click.echo(json.dumps(ld.as_kafka_json(rows)))
            return
        console = _console()
        for part in ld.render(rows):
            console.print(part)

    _run_tool(go)


# ---------------------------------------------------------------------------
# dump-log
# ---------------------------------------------------------------------------


@main.command("dump-log")
@click.argument("segment", type=click.Path(exists=True, dir_okay=False))
@click.option("--records", "show_records", is_flag=True, help="Also print every record (key, value, headers).")
@click.option("--verify", is_flag=True,
              help="A .log: the storage core's full check (framing, CRC32C, records, increasing offsets). "
                   "An index: its entries increase and agree with the .log beside it.")
def dump_log(segment: str, show_records: bool, verify: bool) -> None:
    """What a partition file holds (Kafka's DumpLogSegments): NNNN.log batches (offsets, sizes, CRC check,
    producer fields), NNNN.index entries (offset -> position), NNNN.timeindex entries (timestamp -> offset).
    Exit status 1 when something is damaged."""
    from pystream.tools.dump_log import dump

    try:
        problems = dump(Path(segment), click.echo, show_records=show_records, verify=verify)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"cannot read {segment}: {e.strerror or e}") from None
    if problems:
        raise SystemExit(1)


# ---------------------------------------------------------------------------
# reassign (logic in pystream.tools.reassign)
# ---------------------------------------------------------------------------


@main.command()
@click.option("--topic", "-t", default=None, help="Topic whose partitions move.")
@click.option("--partition", "-p", "partitions", type=int, multiple=True, help="A partition to move (repeatable).")
@click.option("--all-partitions", is_flag=True, help="Move every partition of --topic.")
@click.option("--replicas", "-r", default=None, metavar="ID,ID,...",
              help="Target broker ids, preferred leader first, e.g. 1,2,4.")
@click.option("--list", "list_only", is_flag=True, help="Show the reassignments in progress.")
@click.option("--wait", is_flag=True, help="Wait until no reassignment is pending (bounded by --timeout).")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds --wait waits at most.")
@_bootstrap_option
def reassign(topic: str | None, partitions: tuple[int, ...], all_partitions: bool, replicas: str | None,
             list_only: bool, wait: bool, timeout: float, bootstrap: str) -> None:
    """Move partition replicas to other brokers (AlterPartitionReassignments), list or wait for moves.

    \b
    pystream reassign -b HOST:PORT --topic T --partition 0 --replicas 1,2,4 [--wait]
    pystream reassign -b HOST:PORT --topic T --all-partitions --replicas 2,3,4
    pystream reassign -b HOST:PORT --list
    pystream reassign -b HOST:PORT --wait --timeout 60
    """
    from pystream.tools import ToolError, kafka_client
    from pystream.tools import reassign as r

    moving = replicas is not None or topic is not None or partitions or all_partitions
    if list_only and moving:
        raise click.UsageError("--list does not take --topic/--partition/--replicas")
    if not (moving or list_only or wait):
        raise click.UsageError("nothing to do: give --topic T --partition P --replicas IDS, --list or --wait")
    if moving:
        if topic is None or replicas is None:
            raise click.UsageError("a reassignment needs --topic and --replicas")
        if bool(partitions) == all_partitions:
            raise click.UsageError("give --partition P (repeatable) or --all-partitions (one of the two)")
    if timeout <= 0:
        raise click.BadParameter("must be positive", param_hint="--timeout")

    def go() -> None:
        target = r.parse_replicas(replicas) if replicas is not None else None
        with kafka_client(bootstrap) as client:
            if topic is not None and target is not None:
                done = r.alter(client, topic, None if all_partitions else partitions, target)
                click.echo(f"Reassignment of {topic} partition(s) {', '.join(map(str, done))} "
                           f"to replicas {','.join(map(str, target))} started.")
            if list_only:
                _console().print(r.render_pending(r.list_pending(client)))
            if wait:
                scope = {topic: list(done)} if topic is not None and target is not None else None
                first = r.list_pending(client, scope)
                with _progress("Reassigning", len(first)) as step:
                    def moved(rows: list[dict[str, object]]) -> None:
                        pending = ", ".join(f"{x['topic']}-{x['partition']}" for x in rows[:3])
                        step(completed=max(0, len(first) - len(rows)),
                             description=f"pending {pending}{' ...' if len(rows) > 3 else ''}")
                    try:
                        r.wait_done(client, timeout, scope, on_progress=moved)
                    except ToolError:
                        _console().print(r.render_pending(r.list_pending(client, scope)))
                        raise
                click.echo("No reassignment pending.")

    _run_tool(go)


# ---------------------------------------------------------------------------
# Security: users (SCRAM credentials), acls, quotas (logic in pystream.tools.users / acls / quotas)
# ---------------------------------------------------------------------------

_command_config_option = click.option(
    "--command-config", default=None, type=click.Path(exists=True, dir_okay=False), metavar="FILE",
    help="Kafka client properties for a secured listener (security.protocol, ssl.truststore.location, "
         "sasl.mechanism, sasl.jaas.config, ...) [default: $PYSTREAM_COMMAND_CONFIG, which every command reads].")


_mechanism_option = click.option(
    "--mechanism", "-m", "mechanisms", multiple=True, default=("SCRAM-SHA-256", "SCRAM-SHA-512"), show_default=True,
    type=click.Choice(["SCRAM-SHA-256", "SCRAM-SHA-512"], case_sensitive=False), help="Repeatable.")


@main.group()
def users() -> None:
    """SCRAM users (KIP-554): list, add or change a password, delete."""


@users.command("list")
@click.argument("names", nargs=-1)
@_bootstrap_option
@_command_config_option
def users_list(names: tuple[str, ...], bootstrap: str, command_config: str | None) -> None:
    """Users with SCRAM credentials (all, or NAMES), with mechanism and iterations."""
    from pystream.tools import kafka_client
    from pystream.tools import users as u

    def go() -> None:
        with kafka_client(bootstrap, command_config=command_config) as client:
            rows = u.describe(client, list(names) or None)
        _console().print(u.render(rows))

    _run_tool(go)


@users.command("add")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, envvar="PYSTREAM_USER_PASSWORD",
              help="The password [default: prompted; or $PYSTREAM_USER_PASSWORD].")
@_mechanism_option
@click.option("--iterations", type=click.IntRange(4096, 16384), default=4096, show_default=True)
@_bootstrap_option
@_command_config_option
def users_add(name: str, password: str, mechanisms: tuple[str, ...], iterations: int, bootstrap: str,
              command_config: str | None) -> None:
    """Create user NAME or change its password (salted and hashed here; the broker never sees it)."""
    from pystream.tools import kafka_client
    from pystream.tools import users as u

    def go() -> None:
        with kafka_client(bootstrap, command_config=command_config) as client:
            for mech in mechanisms:
                u.upsert(client, name, password, mech.upper(), iterations)
        click.echo(f"User {name}: {', '.join(m.upper() for m in mechanisms)} credentials set ({iterations} iterations).")

    _run_tool(go)


@users.command("delete")
@click.argument("name")
@_mechanism_option
@_bootstrap_option
@_command_config_option
def users_delete(name: str, mechanisms: tuple[str, ...], bootstrap: str, command_config: str | None) -> None:
    """Delete user NAME's SCRAM credentials (those it has, of the given mechanisms)."""
    from pystream.tools import kafka_client
    from pystream.tools import users as u

    def go() -> None:
        with kafka_client(bootstrap, command_config=command_config) as client:
            have = {m for r in u.describe(client, [name]) for m in r["mechanisms"]}
            gone = [m.upper() for m in mechanisms if m.upper() in have]
            for mech in gone:
                u.delete(client, name, mech)
        click.echo(f"User {name}: deleted {', '.join(gone)} credentials." if gone else f"User {name} has none of those credentials.")

    _run_tool(go)


def _stacked(*options):  # type: ignore[no-untyped-def]
    """One decorator applying several click options, in the order given."""
    def apply(fn):  # type: ignore[no-untyped-def]
        for opt in reversed(options):
            fn = opt(fn)
        return fn
    return apply


# kafka-acls' options, shared by acls add / list / remove.
_acl_options = _stacked(
    click.option("--topic", "topics", multiple=True, help="Topic (repeatable; '*': every topic)."),
    click.option("--group", "groups", multiple=True, help="Consumer group (repeatable)."),
    click.option("--transactional-id", "transactional_ids", multiple=True, help="Transactional id (repeatable)."),
    click.option("--cluster", is_flag=True, help="The cluster resource."),
    click.option("--resource-pattern-type", "pattern_type", default=None,
                 type=click.Choice(["literal", "prefixed", "any", "match"], case_sensitive=False),
                 help="literal or prefixed (add; default literal); list/remove also take any and match."),
    click.option("--allow-principal", "allow_principals", multiple=True, metavar="User:NAME", help="Repeatable."),
    click.option("--deny-principal", "deny_principals", multiple=True, metavar="User:NAME", help="Repeatable."),
    click.option("--allow-host", "allow_hosts", multiple=True, help="Host (IP) of the allow ACLs [default: *]."),
    click.option("--deny-host", "deny_hosts", multiple=True, help="Host (IP) of the deny ACLs [default: *]."),
    click.option("--operation", "operations", multiple=True,
                 help="Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, "
                      "IdempotentWrite, All (repeatable)."),
    click.option("--producer", is_flag=True, help="Write, Describe, Create on the topics."),
    click.option("--consumer", is_flag=True, help="Read, Describe on the topics; Read on the groups."),
    click.option("--idempotent", is_flag=True, help="With --producer: IdempotentWrite on the cluster."),
    _bootstrap_option,
    _command_config_option,
)


def _acl_command(action: str, **kw):  # type: ignore[no-untyped-def]
    from pystream.tools import acls as a
    from pystream.tools import kafka_client

    bootstrap, command_config = kw.pop("bootstrap"), kw.pop("command_config")
    spec = a.AclSpec(**{k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()})

    def go() -> None:
        with kafka_client(bootstrap, command_config=command_config) as client:
            rows = getattr(a, action)(client, spec)
        verb = {"add": "Added", "remove": "Removed", "list_acls": "Current"}[action]
        click.echo(f"{verb} ACLs ({len(rows)}):")
        _console().print(a.render(rows))

    _run_tool(go)


@main.group()
def acls() -> None:
    """ACLs: who may do what on which topics, groups and the cluster (kafka-acls' options)."""


@acls.command("add")
@_acl_options
def acls_add(**kw) -> None:  # type: ignore[no-untyped-def]
    """Add ACLs, e.g. --allow-principal User:alice --operation Read --topic events."""
    _acl_command("add", **kw)


@acls.command("list")
@_acl_options
def acls_list(**kw) -> None:  # type: ignore[no-untyped-def]
    """List ACLs (all, or those applying to the named resources / principals)."""
    _acl_command("list_acls", **kw)


@acls.command("remove")
@_acl_options
def acls_remove(**kw) -> None:  # type: ignore[no-untyped-def]
    """Remove the ACLs matching the options (a principal and operation narrow it)."""
    _acl_command("remove", **kw)


@main.group()
def quotas() -> None:
    """Client quotas: producer_byte_rate, consumer_byte_rate, request_percentage per user / client id."""


_quota_entity_options = _stacked(
    click.option("--user", default=None, help="User (principal name)."),
    click.option("--user-default", is_flag=True, help="The default user entity."),
    click.option("--client-id", default=None, help="Client id."),
    click.option("--client-default", is_flag=True, help="The default client-id entity."),
    _bootstrap_option,
    _command_config_option,
)


@quotas.command("alter")
@_quota_entity_options
@click.option("--add", "add", multiple=True, metavar="KEY=VALUE", help="e.g. producer_byte_rate=1048576 (repeatable).")
@click.option("--delete", "delete", multiple=True, metavar="KEY", help="A quota to remove (repeatable).")
def quotas_alter(user: str | None, user_default: bool, client_id: str | None, client_default: bool, bootstrap: str,
                 command_config: str | None, add: tuple[str, ...], delete: tuple[str, ...]) -> None:
    """Set or remove quotas of a user, a client id, or a user's client id."""
    from pystream.tools import kafka_client
    from pystream.tools import quotas as q

    def go() -> None:
        ent = q.entity(user, user_default, client_id, client_default)
        with kafka_client(bootstrap, command_config=command_config) as client:
            q.alter(client, ent, q.parse_settings(add), list(delete))
        click.echo("Quotas updated.")

    _run_tool(go)


@quotas.command("describe")
@_quota_entity_options
def quotas_describe(user: str | None, user_default: bool, client_id: str | None, client_default: bool, bootstrap: str,
                    command_config: str | None) -> None:
    """Quotas of the named entity (none named: every entity with quotas)."""
    from pystream.tools import kafka_client
    from pystream.tools import quotas as q

    def go() -> None:
        named = user is not None or user_default or client_id is not None or client_default
        ent = q.entity(user, user_default, client_id, client_default) if named else None
        with kafka_client(bootstrap, command_config=command_config) as client:
            rows = q.describe(client, ent)
        _console().print(q.render(rows))

    _run_tool(go)


if __name__ == "__main__":
    main()
