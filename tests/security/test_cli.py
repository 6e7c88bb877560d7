"""`pystream users`, `acls`, `quotas` and the other commands against a SASL_SSL
listener (--command-config / PYSTREAM_COMMAND_CONFIG): the CLI's client speaks
TLS and SASL; users are added, changed and deleted; ACLs added, listed and
removed; errors are one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .certs import Pki
from .conftest import started, ADMIN, ADMIN_PASSWORD, SecureBroker, jaas, tls_overrides


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pystream.cli", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})}, input=stdin)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, pki: Pki, request: pytest.FixtureRequest) -> Iterator[tuple[SecureBroker, Path]]:
    tmp = tmp_path_factory.mktemp("cli")
    b = SecureBroker(tmp / "b", {"SASL_SSL": "SASL_SSL"}, {
        **tls_overrides(pki), "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "sasl.jaas.config": jaas({ADMIN: ADMIN_PASSWORD}), "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
        "super.users": f"User:{ADMIN}"})
    started(request, b)
    cfg = tmp / "admin.properties"
    cfg.write_text("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n"
                   f'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="{ADMIN}" '
                   f'password="{ADMIN_PASSWORD}";\nssl.truststore.location={pki.ca.pem}\n')
    try:
        # Bootstrapping SCRAM: the admin's PLAIN password (JAAS) creates the admin's own SCRAM credential.
        plain = tmp / "plain.properties"
        plain.write_text(f"security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.username={ADMIN}\nsasl.password={ADMIN_PASSWORD}\n"
                         f"ssl.truststore.location={pki.ca.pem}\n")
        r = run("users", "add", ADMIN, "-b", b.addr("SASL_SSL"), "--command-config", str(plain), "--password", ADMIN_PASSWORD)
        assert r.returncode == 0, r.stderr
        yield b, cfg
    finally:
        b.stop()


def test_users_lifecycle(setup: tuple[SecureBroker, Path]) -> None:
    b, cfg = setup
    common = ["-b", b.addr("SASL_SSL"), "--command-config", str(cfg)]
    assert run("users", "add", "zoe", "-m", "SCRAM-SHA-256", "--iterations", "8192", *common, "--password", "z1").returncode == 0
    r = run("users", "list", *common)
    assert r.returncode == 0 and "zoe" in r.stdout and "8192" in r.stdout and "admin" in r.stdout, r.stderr
    zoe = {"PYSTREAM_COMMAND_CONFIG": ""}
    zcfg = cfg.with_name("zoe.properties")
    zcfg.write_text(cfg.read_text().replace("SCRAM-SHA-512", "SCRAM-SHA-256").replace(f'username="{ADMIN}"', 'username="zoe"')
                    .replace(f'password="{ADMIN_PASSWORD}"', 'password="z1"'))
    r = run("topics", "list", "-b", b.addr("SASL_SSL"), env={**zoe, "PYSTREAM_COMMAND_CONFIG": str(zcfg)})
    assert r.returncode == 0, r.stderr  # authenticates (and sees no topic: no ACLs)
    assert run("users", "add", "zoe", "-m", "SCRAM-SHA-256", *common, "--password", "z2").returncode == 0  # a new password
    r = run("topics", "list", "-b", b.addr("SASL_SSL"), env={"PYSTREAM_COMMAND_CONFIG": str(zcfg)})
    assert r.returncode == 1 and "SASL_AUTHENTICATION_FAILED" in r.stderr and "Traceback" not in r.stderr
    r = run("users", "delete", "zoe", *common)
    assert r.returncode == 0 and "deleted SCRAM-SHA-256" in r.stdout
    r = run("users", "list", "zoe", *common)
    assert r.returncode == 1 and "RESOURCE_NOT_FOUND" in r.stderr
    r = run("users", "add", "x", "--iterations", "100", *common, "--password", "p")
    assert r.returncode == 2  # refused by the option's range before any request


def test_acls_add_list_remove(setup: tuple[SecureBroker, Path]) -> None:
    b, cfg = setup
    common = ["-b", b.addr("SASL_SSL"), "--command-config", str(cfg)]
    r = run("acls", "add", "--allow-principal", "User:zed", "--consumer", "--topic", "logs", "--group", "logs-app", *common)
    assert r.returncode == 0 and r.stdout.count("User:zed") == 3, r.stdout  # Read+Describe on the topic, Read on the group
    r = run("acls", "list", "--topic", "logs", *common)
    assert "Read" in r.stdout and "Describe" in r.stdout and "logs-app" not in r.stdout
    r = run("acls", "remove", "--allow-principal", "User:zed", "--operation", "Describe", "--topic", "logs", *common)
    assert r.returncode == 0 and "Removed ACLs (1)" in r.stdout
    r = run("acls", "list", "--allow-principal", "User:zed", *common)
    assert r.stdout.count("User:zed") == 2
    r = run("acls", "add", "--allow-principal", "zed", "--operation", "Read", "--topic", "t", *common)
    assert r.returncode == 1 and "Type:name" in r.stderr
    r = run("acls", "add", "--allow-principal", "User:zed", "--operation", "Write", "--group", "g", *common)
    assert r.returncode == 1 and "INVALID_REQUEST" in r.stderr and "does not apply" in r.stderr


def test_bad_command_config_is_one_clear_line(setup: tuple[SecureBroker, Path], tmp_path: Path) -> None:
    b, _ = setup
    bad = tmp_path / "bad.properties"
    bad.write_text("security.protocol=SASL_SSL\nsasl.mechanism=GSSAPI\n")
    r = run("acls", "list", "-b", b.addr("SASL_SSL"), "--command-config", str(bad))
    assert r.returncode == 1 and "GSSAPI" in r.stderr and "not supported" in r.stderr and "Traceback" not in r.stderr
    r = run("topics", "list", "-b", b.addr("SASL_SSL"))  # plaintext to a TLS listener
    assert r.returncode == 1 and "Traceback" not in r.stderr
