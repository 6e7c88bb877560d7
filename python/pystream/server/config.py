"""Broker configuration: every broker config Kafka (3.9) defines, `server.properties` files, dynamic configs.

`BROKER_CONFIGS` is the one table of Kafka's broker configs, built from the
text blocks below (one row per key: name, type, default, valid values,
update mode, whether pystream acts on it). A key pystream does not act on is
accepted and reported, with one WARNING at start; a key Kafka does not define
gets a WARNING naming the nearest known key; a bad value of a known key is a
fatal `ConfigError`. To add keys (or to flip a key to acted-on once its
behaviour exists), edit a row or append a block to ``_BLOCKS``.

`BrokerConfig` holds the values by source, Kafka's precedence from highest:
dynamic per-broker, dynamic cluster-wide default, static (server.properties,
--override and the serve flags), Kafka's default; plus Kafka's fallbacks
(log.retention.ms <- .minutes <- .hours, log.dirs <- log.dir, ...).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pystream.errors import InvalidConfigError
from pystream.storage.config_def import (
    ConfigKey,
    ConfigType,
    UpdateMode,
    Validator,
    at_least,
    between,
    did_you_mean,
    list_of,
    metadata_version,
    non_empty,
    one_of,
    or_value,
    table,
)
from pystream.storage.cleaner import CleanerConfig
from pystream.storage.topic_config import TOPIC_CONFIGS

logger = logging.getLogger("pystream.server")

__all__ = [
    "BROKER_CONFIGS",
    "BROKER_DEFAULTS",
    "DEFAULT_DATA_DIR",
    "BrokerConfig",
    "ConfigError",
    "ConfigSource",
    "load_properties",
    "parse_properties",
]

DEFAULT_DATA_DIR = "./pystream-data"  # pystream's log dir when neither --data-dir nor log.dirs/log.dir is set


class ConfigError(InvalidConfigError):
    """A configuration key or value the broker cannot start with."""


class ConfigSource:
    """Kafka's DescribeConfigs config sources."""

    UNKNOWN = 0
    TOPIC_CONFIG = 1
    DYNAMIC_BROKER_CONFIG = 2
    DYNAMIC_DEFAULT_BROKER_CONFIG = 3
    STATIC_BROKER_CONFIG = 4
    DEFAULT_CONFIG = 5


# ---------------------------------------------------------------------------
# The table. Columns: name, type, default, valid values, update mode, acts.
#   default: null, "" (empty string / list), or the value as Kafka writes it
#   valid:   - (any), [a,...] (at least a), [a,...,b] (between), {x,y} (one of),
#            list{x,y} (each item one of), -1|[a,...] (-1 or at least a), nonempty, version
#   mode:    ro (read-only), pb (per-broker), cw (cluster-wide): Kafka's "Update Mode" (pystream reads
#            its security keys at start: a dynamic change of one is stored and applies at the next start)
#   acts:    y (pystream acts on it), n (accepted, stored, reported: no effect),
#            sec (a security feature pystream does not support: Kerberos, OAUTHBEARER, Java security
#            providers, ...; no effect; see docs/security.md)
# ---------------------------------------------------------------------------

_CORE = """
advertised.listeners                         string   null                 -                          pb  y
auto.create.topics.enable                    boolean  true                 -                          ro  y
auto.leader.rebalance.enable                 boolean  true                 -                          ro  y
background.threads                           int      10                   [1,...]                    cw  n
broker.id                                    int      0                    -                          ro  y
compression.type                             string   producer             {uncompressed,zstd,lz4,snappy,gzip,producer} cw y
control.plane.listener.name                  string   null                 -                          ro  n
controller.listener.names                    string   null                 -                          ro  n
controller.quorum.bootstrap.servers          list     ""                   -                          ro  n
controller.quorum.election.backoff.max.ms    int      1000                 -                          ro  n
controller.quorum.election.timeout.ms        int      1000                 -                          ro  n
controller.quorum.fetch.timeout.ms           int      2000                 -                          ro  n
controller.quorum.voters                     list     ""                   -                          ro  n
delete.topic.enable                          boolean  true                 -                          ro  y
early.start.listeners                        string   null                 -                          ro  n
eligible.leader.replicas.enable              boolean  false                -                          ro  n
leader.imbalance.check.interval.seconds      long     300                  [1,...]                    ro  y
leader.imbalance.per.broker.percentage       int      10                   -                          ro  n
listeners                                    string   null                -                          pb  y
log.dir                                      string   ./pystream-data      -                          ro  y
log.dirs                                     string   null                 -                          ro  y
log.flush.interval.messages                  long     9223372036854775807  [1,...]                    cw  y
log.flush.interval.ms                        long     null                 -                          cw  y
log.flush.offset.checkpoint.interval.ms      int      60000                [0,...]                    ro  n
log.flush.scheduler.interval.ms              long     9223372036854775807  -                          ro  y
log.flush.start.offset.checkpoint.interval.ms int     60000                [0,...]                    ro  n
log.retention.bytes                          long     -1                   -                          cw  y
log.retention.hours                          int      168                  -                          ro  y
log.retention.minutes                        int      null                 -                          ro  y
log.retention.ms                             long     null                 -                          cw  y
log.roll.hours                               int      168                  [1,...]                    ro  y
log.roll.jitter.hours                        int      0                    [0,...]                    ro  y
log.roll.jitter.ms                           long     null                 -                          cw  y
log.roll.ms                                  long     null                 -                          cw  y
log.segment.bytes                            int      1073741824           [14,...]                   cw  y
log.segment.delete.delay.ms                  long     60000                [0,...]                    cw  n
message.max.bytes                            int      1048588              [0,...]                    cw  y
metadata.log.dir                             string   null                 -                          ro  n
metadata.log.max.record.bytes.between.snapshots long  20971520             [1,...]                    ro  n
metadata.log.max.snapshot.interval.ms        long     3600000              [0,...]                    ro  n
metadata.log.segment.bytes                   int      1073741824           [12,...]                   ro  n
metadata.log.segment.ms                      long     604800000            -                          ro  n
metadata.max.retention.bytes                 long     104857600            -                          ro  n
metadata.max.retention.ms                    long     604800000            -                          ro  n
min.insync.replicas                          int      1                    [1,...]                    cw  y
node.id                                      int      -1                   -                          ro  n
num.io.threads                               int      8                    [1,...]                    cw  n
num.network.threads                          int      3                    [1,...]                    cw  n
num.recovery.threads.per.data.dir            int      1                    [1,...]                    cw  n
num.replica.alter.log.dirs.threads           int      null                 -                          ro  n
num.replica.fetchers                         int      1                    -                          cw  n
offset.metadata.max.bytes                    int      4096                 -                          ro  n
offsets.commit.required.acks                 short    -1                   -                          ro  n
offsets.commit.timeout.ms                    int      5000                 [1,...]                    ro  n
offsets.load.buffer.size                     int      5242880              [1,...]                    ro  n
offsets.retention.check.interval.ms          long     600000               [1,...]                    ro  y
offsets.retention.minutes                    int      10080                [1,...]                    ro  y
offsets.topic.compression.codec              int      0                    -                          ro  n
offsets.topic.num.partitions                 int      50                   [1,...]                    ro  y
offsets.topic.replication.factor             short    3                    [1,...]                    ro  y
offsets.topic.segment.bytes                  int      104857600            [1,...]                    ro  n
process.roles                                list     ""                   list{broker,controller}    ro  n
queued.max.requests                          int      500                  [1,...]                    ro  n
replica.fetch.min.bytes                      int      1                    -                          ro  n
replica.fetch.wait.max.ms                    int      500                  -                          ro  y
replica.high.watermark.checkpoint.interval.ms long    5000                 -                          ro  y
replica.lag.time.max.ms                      long     30000                -                          ro  y
replica.socket.receive.buffer.bytes          int      65536                -                          ro  n
replica.socket.timeout.ms                    int      30000                -                          ro  n
request.timeout.ms                           int      30000                -                          ro  n
socket.receive.buffer.bytes                  int      102400               -                          ro  n
socket.request.max.bytes                     int      104857600            [1,...]                    ro  y
socket.send.buffer.bytes                     int      102400               -                          ro  n
transaction.max.timeout.ms                   int      900000               [1,...]                    ro  y
transaction.state.log.load.buffer.size       int      5242880              [1,...]                    ro  n
transaction.state.log.min.isr                int      2                    [1,...]                    ro  n
transaction.state.log.num.partitions         int      50                   [1,...]                    ro  y
transaction.state.log.replication.factor     short    3                    [1,...]                    ro  y
transaction.state.log.segment.bytes          int      104857600            [1,...]                    ro  y
transactional.id.expiration.ms               int      604800000            [1,...]                    ro  y
unclean.leader.election.enable               boolean  false                -                          cw  y
zookeeper.connect                            string   null                 -                          ro  y
zookeeper.connection.timeout.ms              int      null                 -                          ro  n
zookeeper.max.in.flight.requests             int      10                   [1,...]                    ro  n
zookeeper.metadata.migration.enable          boolean  false                -                          ro  n
zookeeper.session.timeout.ms                 int      18000                -                          ro  y
zookeeper.set.acl                            boolean  false                -                          ro  n
broker.heartbeat.interval.ms                 int      2000                 -                          ro  n
broker.id.generation.enable                  boolean  true                 -                          ro  n
broker.rack                                  string   null                 -                          ro  n
broker.session.timeout.ms                    int      9000                 -                          ro  n
compression.gzip.level                       int      -1                   -1|[1,...,9]               cw  n
compression.lz4.level                        int      9                    [1,...,17]                 cw  n
compression.zstd.level                       int      3                    [-131072,...,22]           cw  n
connections.max.idle.ms                      long     600000               -                          ro  y
controlled.shutdown.enable                   boolean  true                 -                          ro  y
controlled.shutdown.max.retries              int      3                    -                          ro  y
controlled.shutdown.retry.backoff.ms         long     5000                 -                          ro  y
controller.quorum.append.linger.ms           int      25                   -                          ro  n
controller.quorum.request.timeout.ms         int      2000                 -                          ro  n
controller.socket.timeout.ms                 int      30000                -                          ro  n
default.replication.factor                   int      1                    -                          ro  y
delegation.token.expiry.time.ms              long     86400000             [1,...]                    ro  n
delegation.token.max.lifetime.ms             long     604800000            [1,...]                    ro  n
delete.records.purgatory.purge.interval.requests int  1                    -                          ro  n
fetch.max.bytes                              int      57671680             [1024,...]                 ro  n
fetch.purgatory.purge.interval.requests      int      1000                 -                          ro  n
initial.broker.registration.timeout.ms       int      60000                -                          ro  n
inter.broker.protocol.version                string   3.9-IV0              version                    ro  n
log.cleaner.backoff.ms                       long     15000                [0,...]                    cw  y
log.cleaner.dedupe.buffer.size               long     134217728            -                          cw  y
log.cleaner.delete.retention.ms              long     86400000             [0,...]                    cw  y
log.cleaner.enable                           boolean  true                 -                          ro  y
log.cleaner.io.buffer.load.factor            double   0.9                  -                          cw  y
log.cleaner.io.buffer.size                   int      524288               [0,...]                    cw  n
log.cleaner.io.max.bytes.per.second          double   1.7976931348623157E308 -                        cw  y
log.cleaner.max.compaction.lag.ms            long     9223372036854775807  [1,...]                    cw  y
log.cleaner.min.cleanable.ratio              double   0.5                  [0,...,1]                  cw  y
log.cleaner.min.compaction.lag.ms            long     0                    [0,...]                    cw  y
log.cleaner.threads                          int      1                    [0,...]                    cw  y
log.cleanup.policy                           list     delete               list{compact,delete}       cw  y
log.index.interval.bytes                     int      4096                 [0,...]                    cw  y
log.index.size.max.bytes                     int      10485760             [4,...]                    cw  y
log.local.retention.bytes                    long     -2                   [-2,...]                   cw  n
log.local.retention.ms                       long     -2                   [-2,...]                   cw  n
log.message.format.version                   string   3.0-IV1              version                    ro  n
log.message.timestamp.after.max.ms           long     9223372036854775807  [0,...]                    cw  y
log.message.timestamp.before.max.ms          long     9223372036854775807  [0,...]                    cw  y
log.message.timestamp.difference.max.ms      long     9223372036854775807  [0,...]                    cw  y
log.message.timestamp.type                   string   CreateTime           {CreateTime,LogAppendTime} cw  y
log.preallocate                              boolean  false                -                          cw  n
log.retention.check.interval.ms              long     300000               [1,...]                    ro  y
max.connection.creation.rate                 int      2147483647           [0,...]                    cw  n
max.connections                              int      2147483647           [0,...]                    cw  y
max.connections.per.ip                       int      2147483647           [0,...]                    cw  y
max.connections.per.ip.overrides             string   ""                   -                          cw  y
max.incremental.fetch.session.cache.slots    int      1000                 [0,...]                    ro  y
max.request.partition.size.limit             int      2000                 [1,...]                    ro  n
num.partitions                               int      1                    [1,...]                    ro  y
password.encoder.old.secret                  password null                 -                          ro  n
password.encoder.secret                      password null                 -                          ro  n
producer.purgatory.purge.interval.requests   int      1000                 -                          ro  n
queued.max.request.bytes                     long     104857600            -                          ro  y
replica.fetch.backoff.ms                     int      1000                 [0,...]                    ro  n
replica.fetch.max.bytes                      int      1048576              [0,...]                    ro  n
replica.fetch.response.max.bytes             int      10485760             [0,...]                    ro  n
replica.selector.class                       string   null                 -                          ro  n
reserved.broker.max.id                       int      1000                 [0,...]                    ro  n
socket.connection.setup.timeout.max.ms       long     30000                -                          ro  n
socket.connection.setup.timeout.ms           long     10000                -                          ro  n
socket.listen.backlog.size                   int      50                   [1,...]                    ro  n
zookeeper.clientCnxnSocket                   string   null                 -                          ro  n
zookeeper.ssl.client.enable                  boolean  false                -                          ro  n
zookeeper.ssl.keystore.location              string   null                 -                          ro  n
zookeeper.ssl.keystore.password              password null                 -                          ro  n
zookeeper.ssl.keystore.type                  string   null                 -                          ro  n
zookeeper.ssl.truststore.location            string   null                 -                          ro  n
zookeeper.ssl.truststore.password            password null                 -                          ro  n
zookeeper.ssl.truststore.type                string   null                 -                          ro  n
alter.config.policy.class.name               class    null                 -                          ro  n
alter.config.policy.kraft.compatibility.enable boolean false               -                          ro  n
alter.log.dirs.replication.quota.window.num  int      11                   [1,...]                    ro  n
alter.log.dirs.replication.quota.window.size.seconds int 1                 [1,...]                    ro  n
auto.include.jmx.reporter                    boolean  true                 -                          ro  n
client.quota.callback.class                  class    null                 -                          ro  n
controller.quorum.retry.backoff.ms           int      20                   -                          ro  n
controller.quota.window.num                  int      11                   [1,...]                    ro  n
controller.quota.window.size.seconds         int      1                    [1,...]                    ro  n
create.topic.policy.class.name               class    null                 -                          ro  n
delegation.token.expiry.check.interval.ms    long     3600000              [1,...]                    ro  n
kafka.metrics.polling.interval.secs          int      10                   [1,...]                    ro  n
kafka.metrics.reporters                      list     ""                   -                          ro  n
log.dir.failure.timeout.ms                   long     30000                [1,...]                    ro  n
log.message.downconversion.enable            boolean  true                 -                          cw  n
metadata.max.idle.interval.ms                int      500                  [0,...]                    ro  n
metric.reporters                             list     ""                   -                          cw  n
metrics.num.samples                          int      2                    [1,...]                    ro  n
metrics.recording.level                      string   INFO                 -                          ro  n
metrics.sample.window.ms                     long     30000                [1,...]                    ro  n
password.encoder.cipher.algorithm            string   AES/CBC/PKCS5Padding -                          ro  n
password.encoder.iterations                  int      4096                 [1024,...]                 ro  n
password.encoder.key.length                  int      128                  [8,...]                    ro  n
password.encoder.keyfactory.algorithm        string   null                 -                          ro  n
producer.id.expiration.ms                    int      86400000             [1,...]                    cw  y
quota.window.num                             int      11                   [1,...]                    ro  y
quota.window.size.seconds                    int      1                    [1,...]                    ro  y
replication.quota.window.num                 int      11                   [1,...]                    ro  n
replication.quota.window.size.seconds        int      1                    [1,...]                    ro  n
telemetry.max.bytes                          int      1048576              [1,...]                    ro  n
transaction.abort.timed.out.transaction.cleanup.interval.ms int 10000      [1,...]                    ro  y
transaction.partition.verification.enable    boolean  true                 -                          cw  y
transaction.remove.expired.transaction.cleanup.interval.ms int 3600000     [1,...]                    ro  y
zookeeper.ssl.cipher.suites                  list     null                 -                          ro  n
zookeeper.ssl.crl.enable                     boolean  false                -                          ro  n
zookeeper.ssl.enabled.protocols              list     null                 -                          ro  n
zookeeper.ssl.endpoint.identification.algorithm string HTTPS               -                          ro  n
zookeeper.ssl.ocsp.enable                    boolean  false                -                          ro  n
zookeeper.ssl.protocol                       string   TLSv1.2              -                          ro  n
leader.replication.throttled.rate            long     9223372036854775807  [0,...]                    cw  n
follower.replication.throttled.rate          long     9223372036854775807  [0,...]                    cw  n
replica.alter.log.dirs.io.max.bytes.per.second long   9223372036854775807  [0,...]                    cw  n
"""

# Consumer groups (KIP-848 and share groups): the `groups` work acts on these.
_GROUPS = """
group.consumer.assignors                     list     org.apache.kafka.coordinator.group.assignor.UniformAssignor,org.apache.kafka.coordinator.group.assignor.RangeAssignor - ro y
group.consumer.heartbeat.interval.ms         int      5000                 [1,...]                    ro  y
group.consumer.max.heartbeat.interval.ms     int      15000                [1,...]                    ro  n
group.consumer.max.session.timeout.ms        int      60000                [1,...]                    ro  n
group.consumer.max.size                      int      2147483647           [1,...]                    ro  n
group.consumer.min.heartbeat.interval.ms     int      5000                 [1,...]                    ro  n
group.consumer.min.session.timeout.ms        int      45000                [1,...]                    ro  n
group.consumer.session.timeout.ms            int      45000                [1,...]                    ro  y
group.coordinator.append.linger.ms           int      10                   [0,...]                    ro  n
group.coordinator.rebalance.protocols        list     classic              list{consumer,classic,share,unknown} ro n
group.coordinator.threads                    int      1                    [1,...]                    ro  n
group.initial.rebalance.delay.ms             int      3000                 -                          ro  y
group.max.session.timeout.ms                 int      1800000              -                          ro  y
group.max.size                               int      2147483647           [1,...]                    ro  n
group.min.session.timeout.ms                 int      6000                 -                          ro  y
group.share.delivery.count.limit             int      5                    [2,...,10]                 ro  n
group.share.heartbeat.interval.ms            int      5000                 [1,...]                    ro  n
group.share.max.groups                       short    10                   [1,...,100]                ro  n
group.share.max.heartbeat.interval.ms        int      15000                [1,...]                    ro  n
group.share.max.record.lock.duration.ms      int      60000                [30000,...,3600000]        ro  n
group.share.max.session.timeout.ms           int      60000                [1,...]                    ro  n
group.share.max.size                         short    200                  [10,...,1000]              ro  n
group.share.min.heartbeat.interval.ms        int      5000                 [1,...]                    ro  n
group.share.min.record.lock.duration.ms      int      15000                [1000,...,30000]           ro  n
group.share.min.session.timeout.ms           int      45000                [1,...]                    ro  n
group.share.partition.max.record.locks       int      200                  [100,...,10000]            ro  n
group.share.record.lock.duration.ms          int      30000                [1000,...,60000]           ro  n
group.share.session.timeout.ms               int      45000                [1,...]                    ro  n
"""

# Tiered storage (KIP-405): pystream has none.
_REMOTE = """
remote.fetch.max.wait.ms                     int      500                  [1,...]                    cw  n
remote.log.index.file.cache.total.size.bytes long     1073741824           [1,...]                    cw  n
remote.log.manager.copier.thread.pool.size   int      -1                   -1|[1,...]                 ro  n
remote.log.manager.copy.max.bytes.per.second long     9223372036854775807  [1,...]                    cw  n
remote.log.manager.copy.quota.window.num     int      11                   [1,...]                    ro  n
remote.log.manager.copy.quota.window.size.seconds int 1                    [1,...]                    ro  n
remote.log.manager.expiration.thread.pool.size int    -1                   -1|[1,...]                 ro  n
remote.log.manager.fetch.max.bytes.per.second long    9223372036854775807  [1,...]                    cw  n
remote.log.manager.fetch.quota.window.num    int      11                   [1,...]                    ro  n
remote.log.manager.fetch.quota.window.size.seconds int 1                   [1,...]                    ro  n
remote.log.manager.task.interval.ms          long     30000                [1,...]                    ro  n
remote.log.manager.thread.pool.size          int      10                   [1,...]                    ro  n
remote.log.metadata.custom.metadata.max.bytes int     128                  [0,...]                    ro  n
remote.log.metadata.manager.class.name       string   org.apache.kafka.server.log.remote.metadata.storage.TopicBasedRemoteLogMetadataManager nonempty ro n
remote.log.metadata.manager.class.path       string   null                 -                          ro  n
remote.log.metadata.manager.impl.prefix      string   rlmm.config.         nonempty                   ro  n
remote.log.metadata.manager.listener.name    string   null                 nonempty                   ro  n
remote.log.reader.max.pending.tasks          int      100                  [1,...]                    ro  n
remote.log.reader.threads                    int      10                   [1,...]                    ro  n
remote.log.storage.manager.class.name        string   null                 nonempty                   ro  n
remote.log.storage.manager.class.path        string   null                 -                          ro  n
remote.log.storage.manager.impl.prefix       string   rsm.config.          nonempty                   ro  n
remote.log.storage.system.enable             boolean  false                -                          ro  n
"""

# Security: listeners beyond PLAINTEXT, TLS, SASL, ACLs (the security work acts on these); with the
# authorizer's own keys (AclAuthorizer: super.users, allow.everyone.if.no.acl.found).
_SECURITY = """
authorizer.class.name                        string   ""                   -                          ro  y
allow.everyone.if.no.acl.found               boolean  false                -                          ro  y
super.users                                  string   null                 -                          ro  y
connection.failed.authentication.delay.ms    int      100                  [0,...]                    ro  y
connections.max.reauth.ms                    long     0                    -                          ro  y
delegation.token.master.key                  password null                 -                          ro  sec
delegation.token.secret.key                  password null                 -                          ro  sec
inter.broker.listener.name                   string   null                 -                          ro  y
listener.security.protocol.map               string   SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT - pb y
principal.builder.class                      class    org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder - pb sec
sasl.client.callback.handler.class           class    null                 -                          ro  sec
sasl.enabled.mechanisms                      list     GSSAPI               -                          pb  y
sasl.jaas.config                             password null                 -                          pb  y
sasl.kerberos.kinit.cmd                      string   /usr/bin/kinit       -                          pb  sec
sasl.kerberos.min.time.before.relogin        long     60000                -                          pb  sec
sasl.kerberos.principal.to.local.rules       list     DEFAULT              -                          pb  sec
sasl.kerberos.service.name                   string   null                 -                          pb  sec
sasl.kerberos.ticket.renew.jitter            double   0.05                 -                          pb  sec
sasl.kerberos.ticket.renew.window.factor     double   0.8                  -                          pb  sec
sasl.login.callback.handler.class            class    null                 -                          ro  sec
sasl.login.class                             class    null                 -                          ro  sec
sasl.login.connect.timeout.ms                int      null                 -                          ro  sec
sasl.login.read.timeout.ms                   int      null                 -                          ro  sec
sasl.login.refresh.buffer.seconds            short    300                  -                          pb  sec
sasl.login.refresh.min.period.seconds        short    60                   -                          pb  sec
sasl.login.refresh.window.factor             double   0.8                  -                          pb  sec
sasl.login.refresh.window.jitter             double   0.05                 -                          pb  sec
sasl.login.retry.backoff.max.ms              long     10000                -                          ro  sec
sasl.login.retry.backoff.ms                  long     100                  -                          ro  sec
sasl.mechanism.controller.protocol           string   GSSAPI               -                          ro  sec
sasl.mechanism.inter.broker.protocol         string   GSSAPI               -                          pb  y
sasl.oauthbearer.clock.skew.seconds          int      30                   -                          ro  sec
sasl.oauthbearer.expected.audience           list     null                 -                          ro  sec
sasl.oauthbearer.expected.issuer             string   null                 -                          ro  sec
sasl.oauthbearer.jwks.endpoint.refresh.ms    long     3600000              -                          ro  sec
sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms long 10000             -                          ro  sec
sasl.oauthbearer.jwks.endpoint.retry.backoff.ms long  100                  -                          ro  sec
sasl.oauthbearer.jwks.endpoint.url           string   null                 -                          ro  sec
sasl.oauthbearer.scope.claim.name            string   scope                -                          ro  sec
sasl.oauthbearer.sub.claim.name              string   sub                  -                          ro  sec
sasl.oauthbearer.token.endpoint.url          string   null                 -                          ro  sec
sasl.server.callback.handler.class           class    null                 -                          ro  sec
sasl.server.max.receive.size                 int      524288               -                          ro  y
security.inter.broker.protocol               string   PLAINTEXT            {PLAINTEXT,SSL,SASL_PLAINTEXT,SASL_SSL} ro y
security.providers                           string   null                 -                          ro  sec
ssl.allow.dn.changes                         boolean  false                -                          ro  sec
ssl.allow.san.changes                        boolean  false                -                          ro  sec
ssl.cipher.suites                            list     ""                   -                          pb  y
ssl.client.auth                              string   none                 {required,requested,none}  pb  y
ssl.enabled.protocols                        list     TLSv1.2,TLSv1.3      -                          pb  y
ssl.endpoint.identification.algorithm        string   https                -                          pb  y
ssl.engine.factory.class                     class    null                 -                          pb  sec
ssl.key.password                             password null                 -                          pb  y
ssl.keymanager.algorithm                     string   SunX509              -                          pb  sec
ssl.keystore.certificate.chain               password null                 -                          pb  y
ssl.keystore.key                             password null                 -                          pb  y
ssl.keystore.location                        string   null                 -                          pb  y
ssl.keystore.password                        password null                 -                          pb  y
ssl.keystore.type                            string   PEM                  -                          pb  y
ssl.principal.mapping.rules                  string   DEFAULT              -                          ro  y
ssl.protocol                                 string   TLSv1.3              -                          pb  sec
ssl.provider                                 string   null                 -                          pb  sec
ssl.secure.random.implementation             string   null                 -                          pb  sec
ssl.trustmanager.algorithm                   string   PKIX                 -                          pb  sec
ssl.truststore.certificates                  password null                 -                          pb  y
ssl.truststore.location                      string   null                 -                          pb  y
ssl.truststore.password                      password null                 -                          pb  sec
ssl.truststore.type                          string   PEM                  -                          pb  y
"""

# pystream's own keys (not Kafka's): the Prometheus endpoint, off while metrics.port is -1 (docs/operations.md);
# the time a client has to finish TLS and SASL, and a JAAS file as the JVM property names it (docs/security.md).
_PYSTREAM = """
metrics.port                                 int      -1                   [-1,...]                   ro  y
metrics.host                                 string   127.0.0.1            -                          ro  y
connections.authentication.timeout.ms        int      10000                [1,...]                    ro  y
java.security.auth.login.config              string   null                 -                          ro  y
"""

_BLOCKS = [_CORE, _GROUPS, _REMOTE, _SECURITY, _PYSTREAM]

# Documentation of the keys pystream acts on (what it does with them); the others get a generic line.
_DOCS: dict[str, str] = {
    "auto.create.topics.enable": "Create a topic when a client produces to or asks metadata of one that does not exist.",
    "auto.leader.rebalance.enable": "In a cluster, move leadership back to each partition's preferred replica periodically.",
    "broker.id": "This broker's id (pystream's default is 0; Kafka's -1 generates one).",
    "compression.type": "Default compression.type of topics (see the topic config).",
    "delete.topic.enable": "Allow DeleteTopics.",
    "leader.imbalance.check.interval.seconds": "How often the controller checks for leadership away from preferred replicas.",
    "log.dir": "The log directory when log.dirs is not set (pystream's default ./pystream-data; Kafka's /tmp/kafka-logs).",
    "log.dirs": "Comma-separated log directories; a new partition goes to the one holding the fewest partitions. "
                "pystream serve --data-dir overrides it.",
    "log.flush.interval.messages": "Default flush.messages of topics.",
    "log.flush.interval.ms": "Default flush.ms of topics (unset: log.flush.scheduler.interval.ms).",
    "log.flush.scheduler.interval.ms": "How often the broker checks which logs are due for a flush "
                                       "(pystream checks at least every second, so flush.ms works with Kafka's default).",
    "max.incremental.fetch.session.cache.slots": "Incremental fetch sessions (KIP-227) the broker keeps at most.",
    "group.consumer.assignors": "Server-side assignors of KIP-848 consumer groups (uniform, range; names or Kafka's class names).",
    "group.consumer.heartbeat.interval.ms": "Heartbeat interval the coordinator gives KIP-848 consumer group members.",
    "group.consumer.session.timeout.ms": "A KIP-848 consumer group member heard from less often than this is fenced.",
    "log.retention.bytes": "Default retention.bytes of topics.",
    "log.retention.hours": "Default retention of topics in hours, when neither log.retention.ms nor .minutes is set.",
    "log.retention.minutes": "Default retention of topics in minutes, when log.retention.ms is not set.",
    "log.retention.ms": "Default retention.ms of topics (unset: log.retention.minutes, then .hours).",
    "log.roll.hours": "Default segment.ms of topics in hours, when log.roll.ms is not set.",
    "log.roll.jitter.hours": "Default segment.jitter.ms of topics in hours, when log.roll.jitter.ms is not set.",
    "log.roll.jitter.ms": "Default segment.jitter.ms of topics (unset: log.roll.jitter.hours).",
    "log.roll.ms": "Default segment.ms of topics (unset: log.roll.hours).",
    "log.segment.bytes": "Default segment.bytes of topics.",
    "message.max.bytes": "Default max.message.bytes of topics: the largest record batch accepted.",
    "min.insync.replicas": "Default min.insync.replicas of topics.",
    "offsets.topic.num.partitions": "Partitions of __consumer_offsets when it is created.",
    "offsets.topic.replication.factor": "Replication factor of __consumer_offsets (at most the live brokers).",
    "replica.fetch.wait.max.ms": "How long a follower's fetch waits at the leader for new records.",
    "replica.lag.time.max.ms": "A follower that has not caught up for this long leaves the ISR.",
    "replica.high.watermark.checkpoint.interval.ms": "How often each replica's high watermark is checkpointed (replication-offset-checkpoint).",
    "controlled.shutdown.enable": "SIGTERM moves leadership to other in-sync replicas before the broker exits.",
    "controlled.shutdown.max.retries": "Controlled-shutdown attempts while partitions have no other replica in sync.",
    "controlled.shutdown.retry.backoff.ms": "Pause between controlled-shutdown attempts.",
    "socket.request.max.bytes": "Largest request the broker reads; a larger one closes the connection.",
    "unclean.leader.election.enable": "Default unclean.leader.election.enable of topics (the cluster controller's choice).",
    "zookeeper.connect": "ZooKeeper of the cluster to join (host:port[,host:port][/chroot]); unset: a single broker.",
    "zookeeper.session.timeout.ms": "The broker's ZooKeeper session timeout (how soon a dead broker is noticed).",
    "default.replication.factor": "Replication factor of auto-created topics and of CreateTopics asking -1.",
    "log.cleanup.policy": "Default cleanup.policy of topics.",
    "log.cleaner.enable": "Run the log cleaner (compaction of topics whose cleanup.policy lists compact).",
    "log.cleaner.threads": "Cleaner threads (each cleans one log at a time).",
    "log.cleaner.dedupe.buffer.size": "Memory of the cleaners' key -> offset maps, shared among the threads.",
    "log.cleaner.io.buffer.load.factor": "How full a cleaner's offset map may get.",
    "log.cleaner.io.max.bytes.per.second": "Bytes per second every cleaner together may read and write.",
    "log.cleaner.backoff.ms": "How long a cleaner thread sleeps when no log needs cleaning.",
    "log.cleaner.min.cleanable.ratio": "Default min.cleanable.dirty.ratio of topics.",
    "log.cleaner.delete.retention.ms": "Default delete.retention.ms of topics.",
    "log.cleaner.min.compaction.lag.ms": "Default min.compaction.lag.ms of topics.",
    "log.cleaner.max.compaction.lag.ms": "Default max.compaction.lag.ms of topics.",
    "offsets.retention.minutes": "Committed offsets of a group with no member expire this long after its last commit.",
    "offsets.retention.check.interval.ms": "How often expired committed offsets are looked for.",
    "producer.id.expiration.ms": "A producer idle this long no longer keeps its last batch through log compaction.",
    "log.index.interval.bytes": "Default index.interval.bytes of topics.",
    "log.index.size.max.bytes": "Default segment.index.bytes of topics.",
    "log.message.timestamp.after.max.ms": "Default message.timestamp.after.max.ms of topics.",
    "log.message.timestamp.before.max.ms": "Default message.timestamp.before.max.ms of topics.",
    "log.message.timestamp.difference.max.ms": "[Deprecated] Default message.timestamp.difference.max.ms of topics.",
    "log.message.timestamp.type": "Default message.timestamp.type of topics.",
    "log.retention.check.interval.ms": "How often retention deletes expired segments.",
    "num.partitions": "Partitions of auto-created topics and of CreateTopics asking -1.",
    "group.initial.rebalance.delay.ms": "How long a new consumer group waits for more members before its first rebalance.",
    "group.max.session.timeout.ms": "Longest session timeout a group member may ask for.",
    "group.min.session.timeout.ms": "Shortest session timeout a group member may ask for.",
    "queued.max.request.bytes": "Bytes the requests being received may hold together; a small request never waits "
                                "(pystream's default 104857600; Kafka's -1, no bound).",
    "connections.max.idle.ms": "A connection idle this long is closed (waiting for request memory counts as idle).",
    "metrics.port": "pystream's Prometheus endpoint port (-1: off; 0: any free port). Not a Kafka config.",
    "metrics.host": "The address of pystream's Prometheus endpoint. Not a Kafka config.",
    "transaction.max.timeout.ms": "Largest transaction.timeout.ms a transactional producer may ask for "
                                  "(InitProducerId answers INVALID_TRANSACTION_TIMEOUT above it).",
    "transaction.state.log.num.partitions": "Partitions of __transaction_state when it is created.",
    "transaction.state.log.replication.factor": "Replication factor of __transaction_state (at most the live brokers).",
    "transaction.state.log.segment.bytes": "segment.bytes of __transaction_state.",
    "transactional.id.expiration.ms": "A transactional id unused this long is removed by its coordinator.",
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": "How often the transaction coordinator aborts "
                                                                   "transactions open longer than their timeout.",
    "transaction.partition.verification.enable": "Check a transactional write against the producer's open "
                                                 "transaction with its coordinator (KIP-890 part 1).",
    "transaction.remove.expired.transaction.cleanup.interval.ms": "How often expired transactional ids are removed.",
    # security (docs/security.md)
    "listeners": "NAME://host:port,... with their security protocols (listener.security.protocol.map); unset: one "
                 "PLAINTEXT listener on pystream serve --host/--port (Kafka's default PLAINTEXT://:9092).",
    "advertised.listeners": "What Metadata tells clients of each listener (default: as in listeners).",
    "listener.security.protocol.map": "Listener name -> PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.",
    "inter.broker.listener.name": "The listener brokers use between themselves (replication).",
    "security.inter.broker.protocol": "The inter-broker listener by protocol, when inter.broker.listener.name is not set.",
    "ssl.keystore.type": "PEM only (pystream's default; Kafka's JKS): JKS and PKCS12 stores are not read.",
    "ssl.keystore.location": "A PEM file with the broker's certificate chain and private key.",
    "ssl.keystore.certificate.chain": "The broker's certificate chain, inline PEM (with ssl.keystore.key).",
    "ssl.keystore.key": "The broker's private key, inline PEM.",
    "ssl.keystore.password": "Password of an encrypted private key when ssl.key.password is not set.",
    "ssl.key.password": "Password of an encrypted private key.",
    "ssl.truststore.type": "PEM only (pystream's default; Kafka's JKS).",
    "ssl.truststore.location": "A PEM file of the CAs trusted for client certificates (and, between brokers, for brokers).",
    "ssl.truststore.certificates": "The trusted CAs, inline PEM.",
    "ssl.client.auth": "none, requested or required: mutual TLS.",
    "ssl.enabled.protocols": "TLS versions accepted (TLSv1.2, TLSv1.3).",
    "ssl.cipher.suites": "TLS 1.2 cipher suites, OpenSSL names (TLS 1.3 suites are OpenSSL's defaults).",
    "ssl.endpoint.identification.algorithm": "https: a broker connecting to another checks its host name (empty: not).",
    "ssl.principal.mapping.rules": "Rules from a client certificate's subject to the user name (Kafka's syntax).",
    "sasl.enabled.mechanisms": "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (GSSAPI and OAUTHBEARER are not supported).",
    "sasl.mechanism.inter.broker.protocol": "The mechanism brokers use between themselves.",
    "sasl.jaas.config": "Kafka's JAAS value: the broker's own username/password, PLAIN users user_<name>=\"<password>\".",
    "sasl.server.max.receive.size": "Largest frame accepted before authentication.",
    "connections.max.reauth.ms": "KIP-368: SASL sessions expire after this; clients re-authenticate (0: never).",
    "connection.failed.authentication.delay.ms": "Wait before closing a connection whose authentication failed.",
    "authorizer.class.name": "Kafka's AclAuthorizer or StandardAuthorizer class name: ACLs apply (unset: all allowed).",
    "super.users": "Principals allowed everything, e.g. User:admin;User:broker.",
    "allow.everyone.if.no.acl.found": "Allow access to a resource no ACL names (with an authorizer).",
    "max.connections.per.ip": "Connections accepted from one address at most.",
    "max.connections.per.ip.overrides": "host:count,... exceptions to max.connections.per.ip.",
    "max.connections": "Connections accepted at most, over every listener.",
    "quota.window.num": "Samples of the client quota rates.",
    "quota.window.size.seconds": "Length of one quota sample.",
    "connections.authentication.timeout.ms": "A client must finish TLS and SASL within this, else it is closed. Not a Kafka config.",
    "java.security.auth.login.config": "A JAAS file whose KafkaServer section is read as sasl.jaas.config (the JVM "
                                       "property's name). Not a Kafka broker config.",
}

_NOTES = {
    "n": "pystream does not act on it",
    "sec": "not supported by pystream's security (docs/security.md)",
}

# Kafka's fallbacks: a key left unset takes its value from the next (with a unit factor).
FALLBACKS: dict[str, list[tuple[str, int]]] = {
    "log.retention.ms": [("log.retention.minutes", 60_000), ("log.retention.hours", 3_600_000)],
    "log.roll.ms": [("log.roll.hours", 3_600_000)],
    "log.roll.jitter.ms": [("log.roll.jitter.hours", 3_600_000)],
    "log.flush.interval.ms": [("log.flush.scheduler.interval.ms", 1)],
    "zookeeper.connection.timeout.ms": [("zookeeper.session.timeout.ms", 1)],
    "log.dirs": [("log.dir", 1)],
}
# Prefixes of keys Kafka passes through (listener overrides, tiered storage plugins): known, not acted on.
KNOWN_PREFIXES = ("listener.name.", "rlmm.config.", "rsm.config.")

_TYPES = {t.name.lower(): t for t in ConfigType}
_MODES = {"ro": UpdateMode.READ_ONLY, "pb": UpdateMode.PER_BROKER, "cw": UpdateMode.CLUSTER_WIDE}
_RANGE = re.compile(r"\[(-?[\d.]+),\.\.\.(?:,(-?[\d.]+))?\]")


def _validator(spec: str) -> Validator | None:
    if spec == "-":
        return None
    if spec == "nonempty":
        return non_empty
    if spec == "version":
        return metadata_version
    if spec.startswith("-1|"):
        return or_value(_validator(spec[3:]), -1)  # type: ignore[arg-type]
    if spec.startswith("list{"):
        return list_of(*spec[5:-1].split(","))
    if spec.startswith("{"):
        return one_of(*spec[1:-1].split(","))
    m = _RANGE.fullmatch(spec)
    if m is None:
        raise ValueError(f"bad validator {spec!r} in the broker config table")
    lo = float(m.group(1)) if "." in m.group(1) else int(m.group(1))
    if m.group(2) is None:
        return at_least(lo)
    return between(lo, float(m.group(2)) if "." in m.group(2) else int(m.group(2)))


def _row(line: str) -> ConfigKey:
    name, type_, default, valid, mode, acts = line.split()
    t = _TYPES[type_]
    spec = ConfigKey(name, t, None, "", acts == "y", _validator(valid), None, _MODES[mode])
    value = None if default == "null" else spec.parse("" if default == '""' else default)
    doc = _DOCS.get(name) or f"Kafka's {name}: accepted and reported, no effect ({_NOTES[acts]})."
    return ConfigKey(name, t, value, doc, acts == "y", spec.validator, None, spec.mode, "" if acts == "y" else _NOTES[acts])


BROKER_CONFIGS: dict[str, ConfigKey] = table(_row(line) for block in _BLOCKS for line in block.strip().splitlines())
# Key -> Kafka's default (typed); None: no default.
BROKER_DEFAULTS: dict[str, Any] = {k: spec.default for k, spec in BROKER_CONFIGS.items()}
DYNAMIC_KEYS = frozenset(k for k, spec in BROKER_CONFIGS.items() if spec.mode is not UpdateMode.READ_ONLY)
PER_BROKER_KEYS = frozenset(k for k, spec in BROKER_CONFIGS.items() if spec.mode is UpdateMode.PER_BROKER)


def broker_synonyms(key: str) -> list[str]:
    """Kafka's synonyms of a broker key, itself first (log.retention.ms: .minutes, .hours)."""
    return [key] + [k for k, _f in FALLBACKS.get(key, [])]


# ---------------------------------------------------------------------------
# Java .properties files
# ---------------------------------------------------------------------------

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(s: str, where: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        i += 1
        if i >= len(s):
            break
        c = s[i]
        if c == "u":
            digits = s[i + 1 : i + 5]
            if len(digits) != 4 or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise ConfigError(f"{where}: malformed \\uxxxx escape: {'u' + digits!r} after a backslash")
            out.append(chr(int(digits, 16)))
            i += 5
            continue
        out.append(_ESCAPES.get(c, c))  # \= \: \# \! \\ \<space> and any other char: itself
        i += 1
    return "".join(out)


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """(first line number, logical line) with comment and blank lines dropped and continuations joined."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        n = i + 1
        line = lines[i].lstrip(" \t\f")
        i += 1
        if not line or line[0] in "#!":
            continue
        # A line ending in an odd number of backslashes continues on the next one (leading blanks dropped).
        while (len(line) - len(line.rstrip("\\"))) % 2 == 1:
            line = line[:-1]
            if i >= len(lines):
                break
            line += lines[i].lstrip(" \t\f")
            i += 1
        yield n, line


def parse_properties(text: str, source: str = "<properties>") -> dict[str, str]:
    """Java's ``Properties.load``: ``key=value``, ``key:value`` or ``key value``; ``#``/``!`` comments;
    backslash line continuations; escapes (\\t \\n \\uXXXX, escaped separators and blanks). Later keys win."""
    out: dict[str, str] = {}
    blanks = " \t\f"
    for n, line in _logical_lines(text):
        # The key ends at the first unescaped '=', ':' or blank; blanks, then one '=' or ':', then
        # blanks separate it from the value (Java's Properties.load0).
        key_len, value_start, has_sep, escaped = 0, len(line), False, False
        while key_len < len(line):
            c = line[key_len]
            if not escaped and c in "=:":
                value_start, has_sep = key_len + 1, True
                break
            if not escaped and c in blanks:
                value_start = key_len + 1
                break
            escaped = c == "\\" and not escaped
            key_len += 1
        while value_start < len(line):
            c = line[value_start]
            if c not in blanks:
                if has_sep or c not in "=:":
                    break
                has_sep = True
            value_start += 1
        where = f"{source}:{n}"
        out[_unescape(line[:key_len], where)] = _unescape(line[value_start:], where)
    return out


def load_properties(path: str | os.PathLike[str]) -> dict[str, str]:
    """Reads a Java .properties file (ISO 8859-1 as Java does, escapes for anything else)."""
    try:
        text = Path(path).read_bytes().decode("latin-1")
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from None
    return parse_properties(text, str(path))


# ---------------------------------------------------------------------------
# BrokerConfig
# ---------------------------------------------------------------------------


@dataclass
class BrokerConfig:
    """The broker's configuration: values by source, with Kafka's precedence and fallbacks."""

    host: str = "127.0.0.1"
    port: int = 9092
    static: dict[str, Any] = field(default_factory=dict)  # server.properties, --override, serve's flags
    dynamic_default: dict[str, Any] = field(default_factory=dict)  # IncrementalAlterConfigs on broker ""
    dynamic_broker: dict[str, Any] = field(default_factory=dict)  # ... on this broker's id
    warnings: list[str] = field(default_factory=list)  # said once at start (keys not acted on, unknown keys)
    unknown: dict[str, str] = field(default_factory=dict)  # keys Kafka does not define (kept, unused)

    @classmethod
    def from_sources(cls, host: str = "127.0.0.1", port: int = 9092, data_dir: str | os.PathLike[str] | None = None,
                     properties: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> BrokerConfig:
        """The config of `pystream serve`: a properties file's keys, then overrides; `data_dir`
        (--data-dir, a comma-separated list allowed) replaces log.dirs. Raises ConfigError on a bad value."""
        cfg = cls(host=host, port=port)
        for key, raw in {**(properties or {}), **(overrides or {})}.items():
            cfg.set_static(key, raw)
        if data_dir is not None:
            cfg.static["log.dirs"] = str(data_dir)
        if not cfg.log_dirs:
            raise ConfigError("log.dirs lists no directory")
        try:
            cfg.topic_defaults()
        except InvalidConfigError as e:
            raise ConfigError(str(e)) from None
        return cfg

    def set_static(self, key: str, raw: Any) -> None:
        """Sets one static key; unknown keys and keys pystream does not act on are noted in `warnings`."""
        spec = BROKER_CONFIGS.get(key)
        if spec is None:
            self.unknown[key] = str(raw)
            if not key.startswith(KNOWN_PREFIXES):
                self.warnings.append(f"unknown config {key!r} ignored: Kafka defines no such broker config"
                                     f"{did_you_mean(key, BROKER_CONFIGS)}")
            return
        try:
            value = spec.parse(raw)
        except InvalidConfigError as e:
            raise ConfigError(str(e)) from None
        self.static[key] = value
        if not spec.acts:
            shown = "[hidden]" if spec.sensitive else spec.format(value)
            self.warnings.append(f"config {key}={shown} has no effect: {spec.note} (accepted and ignored)")

    # --- values ---

    def _set_value(self, key: str) -> tuple[Any, int] | None:
        """(value, source) of a key set in some source, highest first; None when set nowhere."""
        for source, values in ((ConfigSource.DYNAMIC_BROKER_CONFIG, self.dynamic_broker),
                               (ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG, self.dynamic_default),
                               (ConfigSource.STATIC_BROKER_CONFIG, self.static)):
            if key in values:
                return values[key], source
        return None

    def get(self, key: str) -> Any:
        """The effective value of a broker key (its own value, else its fallbacks', else Kafka's default)."""
        found = self._set_value(key)
        if found is not None:
            return found[0]
        for other, factor in FALLBACKS.get(key, []):
            v = self.get(other)
            if v is not None:
                return v * factor if factor != 1 else v
        return BROKER_DEFAULTS[key]

    def own_value(self, key: str) -> tuple[Any, int]:
        """(value, source) as DescribeConfigs shows a broker key: no fallbacks."""
        found = self._set_value(key)
        return found if found is not None else (BROKER_DEFAULTS[key], ConfigSource.DEFAULT_CONFIG)

    def synonyms(self, key: str, *, default_only: bool = False) -> list[tuple[str, Any, int]]:
        """Kafka's synonyms of a broker key: (name, value, source), sources by precedence
        (with ``default_only``, only the dynamic cluster-wide ones); entries before the key's own are dropped."""
        names = broker_synonyms(key)
        out: list[tuple[str, Any, int]] = []
        sources = [(ConfigSource.DYNAMIC_BROKER_CONFIG, self.dynamic_broker),
                   (ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG, self.dynamic_default),
                   (ConfigSource.STATIC_BROKER_CONFIG, self.static),
                   (ConfigSource.DEFAULT_CONFIG, {k: v for k in names if (v := BROKER_DEFAULTS.get(k)) is not None})]
        for source, values in sources:
            if default_only and source != ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG:
                continue
            out.extend((n, values[n], source) for n in names if n in values)
        while out and out[0][0] != key:  # Kafka's dropWhile(name != key)
            out.pop(0)
        return out

    @property
    def log_dirs(self) -> list[Path]:
        """The log directories (log.dirs, else log.dir; pystream's default ./pystream-data when neither is set)."""
        return [Path(d.strip()) for d in str(self.get("log.dirs")).split(",") if d.strip()]

    @property
    def data_dir(self) -> Path:
        """The first log directory."""
        return self.log_dirs[0]

    def topic_defaults(self) -> dict[str, Any]:
        """Each topic config's value when a topic does not set it (Kafka's topic names), from its broker synonym.
        Raises InvalidConfigError, naming the broker key, for a value the topic config refuses (as Kafka's LogConfig)."""
        out: dict[str, Any] = {}
        for name, spec in TOPIC_CONFIGS.items():
            if spec.synonym is None or spec.synonym not in BROKER_CONFIGS:
                continue
            value = self.get(spec.synonym)
            reason = spec.validator(value) if spec.validator is not None and value is not None else None
            if reason:
                raise InvalidConfigError(f"Invalid value {BROKER_CONFIGS[spec.synonym].format(value)} for configuration "
                                         f"{spec.synonym}: {reason} (it is the default of topic config {name})")
            out[name] = spec.default if value is None else value
        return out

    def cleaner_config(self) -> CleanerConfig:
        """The log cleaner's settings (log.cleaner.*; the topic-config defaults among them
        come through `topic_defaults`)."""
        return CleanerConfig(
            enable=self.get("log.cleaner.enable"),
            threads=max(1, self.get("log.cleaner.threads")),
            dedupe_buffer_size=self.get("log.cleaner.dedupe.buffer.size"),
            io_buffer_load_factor=self.get("log.cleaner.io.buffer.load.factor"),
            io_max_bytes_per_second=self.get("log.cleaner.io.max.bytes.per.second"),
            backoff_ms=self.get("log.cleaner.backoff.ms"),
            producer_id_expiration_ms=self.get("producer.id.expiration.ms"),
            min_cleanable_ratio=self.get("log.cleaner.min.cleanable.ratio"),
            delete_retention_ms=self.get("log.cleaner.delete.retention.ms"),
            min_compaction_lag_ms=self.get("log.cleaner.min.compaction.lag.ms"),
            max_compaction_lag_ms=self.get("log.cleaner.max.compaction.lag.ms"),
        )

    def topic_synonyms(self, topic_key: str) -> list[tuple[str, Any, int]]:
        """The broker-side synonyms of a topic config (Kafka's DescribeConfigs of a topic)."""
        syn = TOPIC_CONFIGS[topic_key].synonym
        return [] if syn is None or syn not in BROKER_CONFIGS else self.synonyms(syn)

    # --- dynamic configs ---

    def set_dynamic(self, default: Mapping[str, str], broker: Mapping[str, str]) -> list[str]:
        """Takes the stored dynamic configs (raw strings); returns why any entry was skipped."""
        problems: list[str] = []
        parsed: list[dict[str, Any]] = []
        for values in (default, broker):
            typed: dict[str, Any] = {}
            for key, raw in values.items():
                try:
                    typed[key] = parse_dynamic(key, raw)
                except InvalidConfigError as e:
                    problems.append(str(e))
            parsed.append(typed)
        old = self.dynamic_default, self.dynamic_broker
        self.dynamic_default, self.dynamic_broker = parsed
        try:
            self.topic_defaults()
        except InvalidConfigError as e:
            self.dynamic_default, self.dynamic_broker = old
            problems.append(f"{e}; the stored dynamic configs are ignored")
        return problems


def parse_dynamic(key: str, raw: Any, *, per_broker: bool = True) -> Any:
    """A value for a dynamic broker config (Kafka's DynamicBrokerConfig.validate); InvalidConfigError if refused."""
    spec = BROKER_CONFIGS.get(key)
    if spec is None:
        raise InvalidConfigError(f"Unknown broker config name: {key}{did_you_mean(key, BROKER_CONFIGS)}")
    if spec.mode is UpdateMode.READ_ONLY:
        raise InvalidConfigError(f"Cannot update these configs dynamically: {key} (read-only: set it in server.properties)")
    if spec.mode is UpdateMode.PER_BROKER and not per_broker:
        raise InvalidConfigError(f"Cannot update these configs at default cluster level, broker id must be specified: {key}")
    return spec.parse(raw)


# Sanity of the table against the topic table: every synonym a topic config names is a broker key.
assert all(s.synonym in BROKER_CONFIGS for s in TOPIC_CONFIGS.values() if s.synonym), "topic synonym missing from the broker table"
