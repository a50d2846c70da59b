"""Secured-cluster settings end to end: SASL and TLS settings reach the clients from a
properties file, ``KAFKA_*`` variables and ``-X``, and a secret given any of those ways
never appears in anything the CLI prints, on success or on failure, even with --debug.

(The embedded broker's own SASL cannot be provisioned in memory - ``tansu user create``
needs an authenticated connection to the broker it provisions - so the SASL handshake
itself is exercised against Apache Kafka, docs/kafka-clusters.md.)
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.conftest import run_cli
from widget_factory.kafka_io.broker import EmbeddedBroker

pytestmark = pytest.mark.integration


def secret() -> str:
    return f"pw-{uuid.uuid4().hex}"


def assert_hidden(value: str, *outputs: str) -> None:
    for output in outputs:
        assert value not in output, f"secret leaked: {output[-500:]}"


def test_a_sasl_password_from_the_environment_never_appears_in_output(
    own_broker: EmbeddedBroker,
) -> None:
    password = secret()
    env = {
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "KAFKA_SASL_USERNAME": "alice",
        "KAFKA_SASL_PASSWORD": password,
    }
    # The embedded broker speaks no SASL here: the client cannot get in, and says so.
    for debug in ([], ["--debug"]):
        result = run_cli(
            "setup", "--bootstrap-servers", own_broker.bootstrap_servers, *debug,
            env=env, timeout=60,
        )  # fmt: skip
        print(f"\nsetup {' '.join(debug)} with SASL against a PLAINTEXT broker: exit "
              f"{result.returncode}; stderr: {result.stderr.strip().splitlines()[-1:]}")  # fmt: skip
        assert result.returncode != 0
        assert "No available brokers" in result.stderr
        assert_hidden(password, result.stdout, result.stderr)


def test_secrets_are_redacted_from_service_logs_from_every_source(
    own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """A service logs its connection settings at start: every secret shows as ***."""
    from_file, from_env, from_flag = secret(), secret(), secret()
    properties = tmp_path / "client.properties"
    properties.write_text(
        "# a Java-style client.properties\n"
        "security.protocol=PLAINTEXT\n"
        f"ssl.key.password={from_file}\n"
    )
    result = run_cli(
        "components", "--bootstrap-servers", own_broker.bootstrap_servers,
        "--speed", "max", "--duration", "10m", "--seed", "1",
        "--kafka-config", str(properties),
        "-X", f"sasl.oauthbearer.client.secret={from_flag}", "-X", "client.rack=rack-1",
        env={"KAFKA_SASL_PASSWORD": from_env}, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    start = next(line for line in result.stderr.splitlines() if "Component production on" in line)
    print(f"\nthe service's start line: {start}")
    assert "ssl.key.password=***" in start and "sasl.password=***" in start
    assert "sasl.oauthbearer.client.secret=***" in start and "client.rack=rack-1" in start
    assert_hidden(from_file, result.stdout, result.stderr)
    assert_hidden(from_env, result.stdout, result.stderr)
    assert_hidden(from_flag, result.stdout, result.stderr)


def test_bad_security_settings_are_one_line_errors_without_the_secret(tmp_path: Path) -> None:
    password = secret()
    cases = {
        "an invalid protocol": (
            ["-X", "security.protocol=SASL_BOGUS", "-X", f"sasl.password={password}"],
            {},
            'configuration property "security.protocol"',
        ),
        "SASL without a user": (
            ["-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanism=PLAIN"],
            {"KAFKA_SASL_PASSWORD": password},
            "sasl.username and sasl.password must be set",
        ),
        "a malformed properties line": (
            ["--kafka-config", str(tmp_path / "bad.properties")],
            {},
            "a line naming a secret (not shown)",
        ),
        "a Java JAAS line without a password": (
            ["-X", f'sasl.jaas.config=PlainLoginModule required username="{password}";'],
            {},
            "sasl.jaas.config: expected",
        ),
    }
    (tmp_path / "bad.properties").write_text(f"sasl.password {password}\n")
    for label, (args, env, expected) in cases.items():
        result = run_cli("setup", "--bootstrap-servers", "127.0.0.1:1", *args, env=env)
        print(f"{label}: {result.stderr.strip()}")
        assert result.returncode == 2, result.stderr
        assert expected in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr
        assert_hidden(password, result.stdout, result.stderr)


def test_run_keeps_secret_flags_off_the_service_command_lines(
    own_broker: EmbeddedBroker,
) -> None:
    """``run`` passes -X secrets to its services as KAFKA_* variables (``ps`` shows
    command lines to every user); the services still get them, and nothing prints them."""
    password = secret()
    result = run_cli(
        "run", "--bootstrap-servers", own_broker.bootstrap_servers, "--speed", "max",
        "--duration", "30m", "--seed", "2", "-X", f"sasl.password={password}",
        "--debug", timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    starts = [line for line in result.stderr.splitlines() if "sasl.password=***" in line]
    print(f"\n{len(starts)} service start lines show sasl.password=***")
    assert len(starts) >= 4  # components, assembly, quality, inventory, ...
    assert_hidden(password, result.stdout, result.stderr)
