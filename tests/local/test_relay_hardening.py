"""The warehouse relay against hostile or broken clients: each kind of garbage ends only its own
connection, with PostgreSQL's error where PostgreSQL would send one, and afterwards psql and
redshift_connector still log in through the same relay."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator

import pytest

from tests.support.databases import Warehouse, free_port
from warehouse_standin.relay import (
    CANCEL_REQUEST,
    PROTOCOL_V3,
    SSL_REQUEST,
    Relay,
)

pytestmark = pytest.mark.integration

IO_TIMEOUT = 10  # seconds a socket read may block: a relay that hangs fails the test


def packet(code: int, payload: bytes = b"") -> bytes:
    return struct.pack("!II", 8 + len(payload), code) + payload


def startup(**params: str) -> bytes:
    body = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items()) + b"\0"
    return packet(PROTOCOL_V3, body)


GARBAGE = {
    # The length field claims 4 GiB: refused at once, nothing buffered.
    "length 0xFFFFFFFF": b"\xff\xff\xff\xff",
    "length 0": struct.pack("!I", 0),
    "length 4 (no room for a code)": struct.pack("!I", 4),
    "length 7": struct.pack("!I", 7) + b"abc",
    "length 10001": struct.pack("!I", 10001),
    "an HTTP request": b"GET / HTTP/1.1\r\nHost: warehouse\r\n\r\n",
    "unknown request code": packet(12345678),
    "protocol 2": packet(2 << 16, b"user\0warehouse\0\0"),
    "cancel request of the wrong length": packet(CANCEL_REQUEST, b"\0\0\0\1"),
    "SSLRequest three times": packet(SSL_REQUEST) * 3,
}


def exchange(port: int, data: bytes) -> bytes:
    """Send ``data``, then read until the relay closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def fatal_message(answer: bytes) -> str:
    """The M field of the ErrorResponse that ends ``answer``."""
    start = answer.index(b"E")
    (length,) = struct.unpack("!I", answer[start + 1 : start + 5])
    fields = answer[start + 5 : start + 1 + length].split(b"\0")
    values = {f[:1]: f[1:].decode() for f in fields if f}
    assert values[b"S"] == "FATAL", values
    return values[b"M"]


def driver_query(warehouse: Warehouse, port: int) -> list[list[object]]:
    import redshift_connector

    conn = redshift_connector.connect(
        host="127.0.0.1", port=port, database="dev",
        user="warehouse", password="warehouse", ssl=False,
    )  # fmt: skip
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT %s + 1 AS n", (41,))
        return [list(row) for row in cursor.fetchall()]
    finally:
        conn.close()


def wait_until_idle(relay: Relay, busy: int = 0, attempts: int = 100) -> None:
    """Until the relay serves only ``busy`` connections (it notices a closed one a moment later)."""
    for _ in range(attempts):
        if relay.active == busy:
            return
        time.sleep(0.05)
    raise AssertionError(f"the relay serves {relay.active} connection(s), expected {busy}")


def assert_clients_still_work(warehouse: Warehouse, relay: Relay, port: int, busy: int = 0) -> None:
    result = warehouse.psql("127.0.0.1", port)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "dev warehouse"
    wait_until_idle(relay, busy)
    assert driver_query(warehouse, port) == [[42]]
    wait_until_idle(relay, busy)


@pytest.fixture
def relay(warehouse: Warehouse) -> Iterator[tuple[Relay, int]]:
    port = free_port()
    server = Relay(
        "127.0.0.1", port, warehouse.host, warehouse.pg_port, startup_timeout=0.5, max_connections=3
    )
    thread = server.start_in_thread()
    yield server, port
    assert thread.is_alive(), "the relay's thread died"


@pytest.mark.parametrize("name", list(GARBAGE))
def test_malformed_startup_is_refused_and_harms_nobody(relay, warehouse, name) -> None:
    server, port = relay
    answer = exchange(port, GARBAGE[name])
    if name == "SSLRequest three times":  # "no" twice, as PostgreSQL allows, then refused
        assert answer.startswith(b"NN"), answer
    message = fatal_message(answer)
    assert any(
        reason in message
        for reason in ("invalid length", "unsupported frontend protocol", "too many SSL")
    ), message
    wait_until_idle(server)
    assert_clients_still_work(warehouse, server, port)


def test_startup_parameter_names_that_are_not_utf8_reach_postgresql_not_a_crash(
    relay, warehouse
) -> None:
    server, port = relay
    body = b"user\0warehouse\0database\0dev\0\xff\xfe\0x\0\0"
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(packet(PROTOCOL_V3, body))
        # PostgreSQL's answer, relayed: its password request (it checks options after login).
        assert sock.recv(65536)[:1] == b"R"
    wait_until_idle(server)
    assert_clients_still_work(warehouse, server, port)


@pytest.mark.parametrize("sent", [b"", b"\0\0", struct.pack("!I", 100) + b"partial"])
def test_a_client_that_stops_sending_is_dropped(relay, warehouse, sent) -> None:
    server, port = relay
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(sent)
        assert sock.recv(65536) == b""  # closed by the relay, not by IO_TIMEOUT (that raises)
    wait_until_idle(server)
    assert_clients_still_work(warehouse, server, port)


def test_connections_over_the_cap_are_refused_and_the_rest_unaffected(warehouse) -> None:
    port = free_port()
    server = Relay(
        "127.0.0.1", port, warehouse.host, warehouse.pg_port, startup_timeout=60, max_connections=3
    )
    server.start_in_thread()
    # Two silent clients hold two of the three places, longer than any login below takes.
    silent = [socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) for _ in range(2)]
    try:
        wait_until_idle(server, busy=2)
        # One place left: a real client still gets in beside them.
        assert_clients_still_work(warehouse, server, port, busy=2)
        third = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        try:
            fourth = exchange(port, startup(user="warehouse", database="dev"))
            assert fatal_message(fourth) == "sorry, too many clients already"
        finally:
            third.close()
    finally:
        for sock in silent:
            sock.close()
    wait_until_idle(server)
    assert_clients_still_work(warehouse, server, port)
