"""The warehouse relay: what it rewrites, and that both the production driver and psql reach
PostgreSQL through it."""

from __future__ import annotations

import struct

import pytest

from warehouse_standin.relay import (
    PROTOCOL_V3,
    REDSHIFT_ONLY_PARAMETERS,
    rewrite_startup,
    trim_server_version,
)


def startup_body(params: dict[str, str]) -> bytes:
    pairs = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items())
    return struct.pack("!I", PROTOCOL_V3) + pairs + b"\0"


def parse_body(body: bytes) -> dict[str, str]:
    fields = body[4:].rstrip(b"\0").split(b"\0")
    return {k.decode(): v.decode() for k, v in zip(fields[0::2], fields[1::2], strict=True)}


def test_startup_drops_only_redshift_parameters() -> None:
    sent = {
        "user": "warehouse",
        "database": "dev",
        "client_protocol_version": "2",
        "driver_version": "2.2.0",
        "os_version": "Linux",
        "application_name": "airflow",
    }
    assert parse_body(rewrite_startup(startup_body(sent))) == {
        "user": "warehouse",
        "database": "dev",
        "application_name": "airflow",
    }
    assert "client_protocol_version" in REDSHIFT_ONLY_PARAMETERS


def parameter_status(name: str, value: str) -> bytes:
    payload = name.encode() + b"\0" + value.encode() + b"\0"
    return b"S" + struct.pack("!I", len(payload) + 4) + payload


def test_server_version_loses_its_distro_suffix_and_nothing_else_changes() -> None:
    trimmed = trim_server_version(
        parameter_status("server_version", "15.18 (Debian 15.18-0+deb12u1)")
    )
    assert trimmed == parameter_status("server_version", "15.18")
    other = parameter_status("TimeZone", "Etc/UTC")
    assert trim_server_version(other) == other


@pytest.mark.integration
def test_psql_reaches_the_warehouse_through_the_relay(warehouse) -> None:
    result = warehouse.psql()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "dev warehouse"


@pytest.mark.integration
def test_driver_binds_server_side_through_the_relay(warehouse) -> None:
    conn = warehouse.redshift_connect()
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT %s::varchar AS v, %s + 1 AS n", ("'; DROP TABLE x; --", 41))
        rows = [list(row) for row in cursor.fetchall()]
        assert rows == [["'; DROP TABLE x; --", 42]]
    finally:
        conn.close()
