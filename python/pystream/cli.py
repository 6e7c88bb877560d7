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
@click.option("--broker", "broker_bench", is_flag=True,
              help="Run the broker benchmark instead: librdkafka producer/consumer against `pystream serve` "
                   "(and nafka when installed with benches/run_broker.py --install-nafka).")
@click.option("--cluster", "cluster_bench", is_flag=True,
              help="Run the cluster benchmark instead: ZooKeeper and three brokers, RF=3 vs RF=1 acks=all "
                   "throughput and failover time after a leader SIGKILL [--n default: 300,000].")
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
) -> None:
    """Storage benchmark: pystream vs a pure-Python reference log, a naive framed log and SQLite.

    With --broker: the broker benchmark (produce/consume throughput against the client's own
    ceiling and nafka, broker CPU per million records, latency at 10,000 records/s).
    With --cluster: the cluster benchmark (needs ZooKeeper)."""
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
@click.option("--data-dir", type=click.Path(file_okay=False), default="./pystream-data", show_default=True, help="Where the logs live.")
@click.option("--broker-id", type=int, default=None, help="This broker's id in a cluster (broker.id) [default: 0].")
@click.option("--zookeeper", default=None, metavar="HOST:PORT[/CHROOT]",
              help="Join the cluster coordinated by this ZooKeeper (zookeeper.connect); without it, a single broker.")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A server.properties file with Kafka's key names (num.partitions, log.segment.bytes, ...).")
@click.option("--override", "overrides", multiple=True, metavar="KEY=VALUE", help="A config key set on the command line (repeatable).")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]), default="INFO", show_default=True)
def serve(host: str, port: int, data_dir: str, broker_id: int | None, zookeeper: str | None, config_file: str | None,
          overrides: tuple[str, ...], log_level: str) -> None:
    """Run a Kafka-compatible broker (kcat, confluent-kafka, kafka-python and aiokafka work unchanged)."""
    import logging

    from pystream.server.config import BrokerConfig, ConfigError, load_properties
    from pystream.serve import run

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
        raise click.ClickException(str(e)) from None
    from pystream.errors import LogDirectoryError, SecurityConfigError

    try:
        run(config)
    except (LogDirectoryError, SecurityConfigError) as e:  # a damaged or locked data directory, a security setting:
        # one line saying what to do (security settings are checked before anything is written or bound)
        raise click.ClickException(str(e)) from None


# ---------------------------------------------------------------------------
# Kafka-protocol tools: topics, produce, consume, groups (logic in pystream.tools)
# ---------------------------------------------------------------------------

_bootstrap_option = click.option(
    "--bootstrap-server", "-b", "bootstrap", default="127.0.0.1:9092", show_default=True, metavar="HOST:PORT[,...]",
    envvar="PYSTREAM_BOOTSTRAP_SERVER", help="Broker(s) to bootstrap from (pystream or Apache Kafka).")


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


@main.group()
def topics() -> None:
    """Create, list, describe and delete topics."""


@topics.command("create")
@click.argument("name")
@click.option("--partitions", "-p", type=int, default=-1, help="Partition count [default: the broker's num.partitions].")
@click.option("--replication-factor", "-r", type=int, default=-1,
              help="Replicas per partition [default: the broker's default.replication.factor].")
@click.option("--config", "-c", "configs", multiple=True, metavar="KEY=VALUE", help="A topic config (repeatable), e.g. retention.ms=60000.")
@_bootstrap_option
def topics_create(name: str, partitions: int, replication_factor: int, configs: tuple[str, ...], bootstrap: str) -> None:
    """Create topic NAME."""
    from pystream.tools import kafka_client
    from pystream.tools import topics as t

    def go() -> None:
        cfg = t.parse_configs(configs)
        with kafka_client(bootstrap) as client:
            res = t.create(client, name, partitions, replication_factor, cfg)
        n = res.get("num_partitions", partitions)
        click.echo(f"Created topic {name}" + (f" with {n} partition(s)" if n and n > 0 else "") + ".")

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
@click.argument("name")
@_bootstrap_option
def topics_describe(name: str, bootstrap: str) -> None:
    """Partitions (leader, replicas, ISR) and configs of topic NAME."""
    from pystream.tools import kafka_client
    from pystream.tools import topics as t

    def go() -> None:
        with kafka_client(bootstrap) as client:
            d = t.describe(client, name)
        console = _console()
        for part in t.render_describe(d):
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
@click.option("--partition", "-p", type=int, default=None,
              help="Send everything to this partition [default: murmur2(key) for keyed lines, sticky for the rest].")
@click.option("--acks", type=click.Choice(["all", "-1", "0", "1"]), default="all", show_default=True)
@click.option("--compression", "-z", type=click.Choice(["none", "gzip", "snappy", "lz4", "zstd"]), default="none", show_default=True)
@click.option("--batch-size", type=int, default=1000, show_default=True, help="Max lines per RecordBatch.")
@click.option("--batch-bytes", type=int, default=1_000_000, show_default=True, help="Max bytes per RecordBatch.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print the summary on stderr.")
@_bootstrap_option
def produce(topic: str, key_separator: str | None, partition: int | None, acks: str, compression: str,
            batch_size: int, batch_bytes: int, quiet: bool, bootstrap: str) -> None:
    """Send lines from stdin to TOPIC, one record per line.

    Lines are batched (--batch-size / --batch-bytes) for throughput; when stdin
    is a terminal each line is sent as soon as it is typed.
    """
    from pystream.tools import kafka_client
    from pystream.tools import produce as pr

    if batch_size < 1 or batch_bytes < 1:
        raise click.BadParameter("must be positive", param_hint="--batch-size/--batch-bytes")
    stdin = sys.stdin.buffer

    def go() -> None:
        with kafka_client(bootstrap) as client:
            stats = pr.produce_lines(client, topic, stdin, key_separator=key_separator.encode() if key_separator else None,
                                     partition=partition, acks=pr.ACKS[acks], compression=compression,
                                     batch_records=batch_size, batch_bytes=batch_bytes, flush_each_line=stdin.isatty())
        if not quiet:
            parts = ", ".join(f"{p}: {n}" for p, n in sorted(stats["partitions"].items()))
            click.echo(f"Produced {stats['records']} record(s) to {topic} in {stats['batches']} batch(es)"
                       + (f" (partition: records {parts})" if parts else "") + ".", err=True)

    _run_tool(go)


@main.command()
@click.argument("topic")
@click.option("--from-beginning", is_flag=True, help="Start at the log start [default: at the end, new records only].")
@click.option("--group", "-g", default=None,
              help="Consumer group: start from its committed offsets and commit as records are printed.")
@click.option("--partition", "-p", "partitions", type=int, multiple=True, help="Only this partition (repeatable).")
@click.option("--max-messages", "-n", type=int, default=None, help="Exit after this many records.")
@click.option("--timeout-ms", type=int, default=None, help="Exit after this long without new records [default: never].")
@click.option("--format", "-f", "fmt", default="%v", show_default=True,
              help="Output per record. kcat tokens: %t topic, %p partition, %o offset, %k key, %v/%s value, "
                   "%K/%S key/value length, %T timestamp ms, %h headers, %%; or a Python format string with "
                   "{topic} {partition} {offset} {key} {value} {timestamp} {headers}. \\n and \\t are escapes; "
                   "a newline is added unless the format ends with one.")
@_bootstrap_option
def consume(topic: str, from_beginning: bool, group: str | None, partitions: tuple[int, ...], max_messages: int | None,
            timeout_ms: int | None, fmt: str, bootstrap: str) -> None:
    """Print the records of TOPIC to stdout."""
    from pystream.tools import kafka_client
    from pystream.tools import consume as co

    out = sys.stdout

    def go() -> None:
        with kafka_client(bootstrap) as client:
            try:
                co.consume(client, topic, out, partitions=list(partitions) or None, from_beginning=from_beginning,
                           group=group, max_messages=max_messages, timeout_ms=timeout_ms, fmt=fmt)
            except KeyboardInterrupt:
                pass
            except BrokenPipeError:
                sys.stderr.close()

    _run_tool(go)


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



# ---------------------------------------------------------------------------
# dump-log
# ---------------------------------------------------------------------------


@main.command("dump-log")
@click.argument("segment", type=click.Path(exists=True, dir_okay=False))
@click.option("--records", "show_records", is_flag=True, help="Also print every record (key, value, headers).")
def dump_log(segment: str, show_records: bool) -> None:
    """Print the batches of a segment file (`NNNN.log`): offsets, sizes, CRC check, producer fields."""
    from pystream import _core
    from pystream.errors import CorruptRecordError

    data = Path(segment).read_bytes()
    pos = 0
    while pos < len(data):
        # A batch is its 12-byte offset+length prefix plus `length` bytes; batch_headers checks the CRC.
        size = int.from_bytes(data[pos + 8 : pos + 12], "big", signed=True) + 12
        try:
            h = _core.batch_headers(data[pos : pos + max(size, 0)])[0]
        except CorruptRecordError as e:
            click.echo(f"position {pos}: invalid batch: {e}")
            raise SystemExit(1) from None
        click.echo(f"position {pos} offsets {h['base_offset']}..{h['last_offset']} count {h['record_count']} size {size} "
                   f"crc {h['crc']:#010x} (valid) compression {h['compression']} max_timestamp {h['max_timestamp']} "
                   f"producer {h['producer_id']}/{h['producer_epoch']}/{h['base_sequence']} "
                   f"leader_epoch {h['partition_leader_epoch']}{' control' if h['is_control'] else ''}")
        if show_records:
            for r in _core.decode_records(data[pos : pos + size]):
                click.echo(f"  offset {r.offset} timestamp {r.timestamp} key {r.key!r} value {r.value!r} headers {list(r.headers)}")
        pos += size
    click.echo(f"{len(data)} bytes, all batches valid")


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
                try:
                    r.wait_done(client, timeout, scope)
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
