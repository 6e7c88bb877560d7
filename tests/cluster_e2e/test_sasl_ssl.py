"""Three brokers with SASL_SSL between them: replication over the inter-broker
listener (TLS, SCRAM-SHA-512, the broker's credential and ACLs in ZooKeeper),
a client on SASL_SSL, and a failover after the leader is killed.

Each broker has two listeners: SASL_SSL (inter.broker.listener.name, the
clients) and PLAINTEXT, which stands in for an administrators' network here
(its ANONYMOUS principal is a super user) and carries the fixture's own
Metadata checks.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from security.certs import make_pki  # tests/ is on sys.path (this directory is a package)

from .conftest import Cluster, free_port, wait_until
from .e2e_helpers import ProducerRun, check_exactly_once, read_partitions

TOPIC = "secure-orders"
PARTITIONS = 2
ADMIN_JAAS = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="admin-secret";'


def _cli(bootstrap: str, *args: str, password: str | None = None) -> None:
    import os

    env = {**os.environ, **({"PYSTREAM_USER_PASSWORD": password} if password else {})}
    r = subprocess.run([sys.executable, "-m", "pystream.cli", *args, "-b", bootstrap], capture_output=True, text=True,
                       timeout=60, env=env)
    assert r.returncode == 0, r.stderr


def test_sasl_ssl_cluster_replicates_and_fails_over(cluster: Cluster, tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    sasl_ports = {}
    for i in (1, 2, 3):
        b = cluster.add_broker(i, start=False)
        used = {x.port for x in cluster.brokers.values()} | set(sasl_ports.values())
        while (port := free_port()) in used:  # a port just released may come back: keep the two listeners apart
            pass
        sasl_ports[i] = port
        b.overrides.update({
            "listeners": f"PLAINTEXT://127.0.0.1:{b.port},SASL_SSL://127.0.0.1:{sasl_ports[i]}",
            "inter.broker.listener.name": "SASL_SSL",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": ADMIN_JAAS,
            "ssl.keystore.location": str(pki.server.pem),
            "ssl.truststore.location": str(pki.ca.pem),
            "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
            "super.users": "User:ANONYMOUS",
        })
        b.start()
    cluster.wait_brokers([1, 2, 3])
    plain = cluster.brokers[1].address
    # Credentials and ACLs go to ZooKeeper through one broker; every broker sees them.
    _cli(plain, "users", "add", "admin", "-m", "SCRAM-SHA-512", password="admin-secret")
    _cli(plain, "users", "add", "app", "-m", "SCRAM-SHA-512", password="app-secret")
    _cli(plain, "acls", "add", "--allow-principal", "User:admin", "--operation", "ClusterAction", "--cluster")
    _cli(plain, "acls", "add", "--allow-principal", "User:app", "--operation", "All", "--topic", "secure-",
         "--resource-pattern-type", "prefixed", "--producer", "--idempotent")
    cluster.create_topic(TOPIC, PARTITIONS, 3, {"min.insync.replicas": "2"}, timeout=40)  # ISR full: followers fetch over SASL_SSL
    wait_until(lambda: all("connected over SASL_SSL (SCRAM-SHA-512 as admin)" in cluster.brokers[i].log_tail(400) for i in (1, 2, 3)),
               30, what="every broker's replica fetchers connected over SASL_SSL")
    assert "Failed authentication" not in "".join(cluster.brokers[i].log_tail(400) for i in (1, 2, 3))

    sasl_bootstrap = ",".join(f"127.0.0.1:{p}" for p in sasl_ports.values())
    client = {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "app",
              "sasl.password": "app-secret", "ssl.ca.location": str(pki.ca.pem)}
    run = ProducerRun(sasl_bootstrap, TOPIC, PARTITIONS, limit=3000, rate=300, **client).start()
    try:
        run.wait_acked(200)
        victim = cluster.leader(TOPIC, 0)
        cluster.brokers[victim].kill()
        wait_until(lambda: cluster.leader(TOPIC, 0) not in (-1, victim), 30, what=f"a new leader after killing {victim}")
        run.wait_acked(200, timeout=40)
        cluster.restart(victim)
        cluster.wait_isr_full(TOPIC, 40, what=f"broker {victim} back in the ISR over SASL_SSL")
        run.wait_acked(100, timeout=30)
    finally:
        unresolved = run.stop()
    assert unresolved == 0 and not run.fatal, (unresolved, run.fatal)
    stats = check_exactly_once(run, read_partitions(cluster.bootstrap, TOPIC, PARTITIONS))
    print(f"SASL_SSL cluster: killed {victim}; {stats}")
    # The credential store is ZooKeeper's, in Kafka's format.
    from kazoo.client import KazooClient

    zk = KazooClient(hosts=cluster.zk)
    zk.start(timeout=10)
    try:
        data, _ = zk.get("/config/users/app")
        assert b"SCRAM-SHA-512" in data and b"stored_key=" in data and b"app-secret" not in data
        assert zk.exists("/kafka-acl/Cluster/kafka-cluster") and zk.exists("/kafka-acl-extended/prefixed/Topic/secure-")
    finally:
        zk.stop()
        zk.close()
