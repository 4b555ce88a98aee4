"""A PostgreSQL wire-protocol relay that lets ``redshift_connector`` talk to stock PostgreSQL.

redshift_connector always sends startup parameters that only Redshift understands
(``client_protocol_version`` and friends); PostgreSQL refuses the connection on the first one.
It also parses ``server_version`` with ``packaging``, which rejects a distro suffix such as
"15.18 (Debian 15.18-0+deb12u1)". The relay drops those parameters from the StartupMessage,
trims the reported version, answers SSL/GSS negotiation with "no", and otherwise copies bytes
untouched, so everything after login (queries, bound parameters, errors) is real PostgreSQL.

The relay trusts no client: a startup packet outside PostgreSQL's own bounds (8 to 10000 bytes)
or with an unknown protocol code is refused with a FATAL error, a client that has not finished
its startup within STARTUP_TIMEOUT is dropped, and past MAX_CONNECTIONS new clients are refused
("too many connections"). Whatever one client sends ends only that client's connection.

Run standalone (as the compose file does): ``python -m warehouse_standin.relay --listen
0.0.0.0:5439 --upstream warehouse-db:5432``.

Over 250 lines because the startup phase's parsing, rewriting and refusals and the copying
after it are one connection's life; its two halves would only import each other.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import struct
import threading

log = logging.getLogger(__name__)

PROTOCOL_V3 = 196608
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102

# PostgreSQL's own limits (src/include/libpq/pqcomm.h, postmaster.c): a startup packet is 8 to
# MAX_STARTUP_PACKET_LENGTH bytes, length field included; a CancelRequest exactly 16.
MIN_STARTUP_LENGTH = 8
MAX_STARTUP_LENGTH = 10000
CANCEL_LENGTH = 16
# A client gets this long to send its startup packet (PostgreSQL's authentication_timeout is
# 60 s; the relay's part is only the first packet, and real clients send it at once).
STARTUP_TIMEOUT = 10.0
# Below the embedded server's max_connections (300), so the relay refuses before PostgreSQL has to.
MAX_CONNECTIONS = 200
# How long a refused client may take to read its error (then its connection is closed anyway).
REFUSE_LINGER = 1.0
# SSLRequest and GSSENCRequest, each at most once, as PostgreSQL allows.
MAX_NEGOTIATIONS = 2

REDSHIFT_ONLY_PARAMETERS = frozenset(
    {
        "client_protocol_version",
        "driver_version",
        "os_version",
        "driver_discovery_version",
        "plugin_name",
        "idp_type",
        "provider_name",
        "application_type",
        "compression",
    }
)

_REDSHIFT_ONLY_BYTES = frozenset(name.encode() for name in REDSHIFT_ONLY_PARAMETERS)


class StartupRefused(Exception):
    """The client's first packets break the protocol; the message goes back to it as FATAL."""

    def __init__(self, message: str, sqlstate: str = "08P01"):  # protocol_violation
        super().__init__(message)
        self.sqlstate = sqlstate


def error_response(message: str, sqlstate: str) -> bytes:
    """A FATAL ErrorResponse, as PostgreSQL sends before it closes a connection it refuses."""
    fields = b"".join(
        code + value.encode() + b"\x00"
        for code, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message))
    )
    payload = fields + b"\x00"
    return b"E" + struct.pack("!I", len(payload) + 4) + payload


async def read_startup(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """The client's StartupMessage or CancelRequest body (length field excluded), after
    answering SSL/GSS negotiation with "no". Raises StartupRefused for anything else."""
    for _ in range(MAX_NEGOTIATIONS + 1):
        (length,) = struct.unpack("!I", await reader.readexactly(4))
        if not MIN_STARTUP_LENGTH <= length <= MAX_STARTUP_LENGTH:
            raise StartupRefused(f"invalid length of startup packet: {length}")
        body = await reader.readexactly(length - 4)
        (code,) = struct.unpack("!I", body[:4])
        if code in (SSL_REQUEST, GSSENC_REQUEST):
            writer.write(b"N")  # no TLS here; real Redshift is reached directly, with SSL
            await writer.drain()
            continue
        if code == CANCEL_REQUEST and length != CANCEL_LENGTH:
            raise StartupRefused(f"invalid length of cancel request packet: {length}")
        if code not in (PROTOCOL_V3, CANCEL_REQUEST):
            raise StartupRefused(f"unsupported frontend protocol or request code {code}", "0A000")
        return body
    raise StartupRefused("too many SSL/GSS negotiation requests")


def rewrite_startup(body: bytes) -> bytes:
    """Return the StartupMessage body without Redshift-only parameters (length prefix excluded)."""
    (version,) = struct.unpack("!I", body[:4])
    fields = body[4:].split(b"\x00")
    pairs = list(zip(fields[0::2], fields[1::2], strict=False))
    # Bytes compared with bytes: a name that is not UTF-8 is PostgreSQL's to refuse, not a crash.
    kept = [(k, v) for k, v in pairs if k and k not in _REDSHIFT_ONLY_BYTES]
    payload = b"".join(k + b"\x00" + v + b"\x00" for k, v in kept) + b"\x00"
    return struct.pack("!I", version) + payload


def trim_server_version(message: bytes) -> bytes:
    """Rewrite a ParameterStatus('server_version') message to its bare version number."""
    name, _, rest = message[5:].partition(b"\x00")
    if name != b"server_version":
        return message
    value = rest.rstrip(b"\x00").split(b" ", 1)[0]
    payload = name + b"\x00" + value + b"\x00"
    return b"S" + struct.pack("!I", len(payload) + 4) + payload


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _relay_login(upstream: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
    """Copy server messages until ReadyForQuery (or an error), trimming server_version."""
    while True:
        head = await upstream.readexactly(5)
        kind = head[:1]
        (length,) = struct.unpack("!I", head[1:])
        message = head + await upstream.readexactly(length - 4)
        if kind == b"S":
            message = trim_server_version(message)
        client.write(message)
        await client.drain()
        if kind in (b"Z", b"E"):
            return


async def _refuse(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, exc: StartupRefused
) -> None:
    """Send the error, then read a little of what the client still sends: closing a socket with
    unread data resets it, and a reset can destroy the error before the client reads it."""
    with contextlib.suppress(ConnectionError, OSError, TimeoutError):
        writer.write(error_response(str(exc), exc.sqlstate))
        await writer.drain()
        writer.write_eof()
        async with asyncio.timeout(REFUSE_LINGER):
            for _ in range(16):
                if not await reader.read(65536):
                    break


class Relay:
    """Listens on ``listen_host:listen_port`` and forwards to ``upstream_host:upstream_port``."""

    def __init__(
        self,
        listen_host: str,
        listen_port: int,
        upstream_host: str,
        upstream_port: int,
        *,
        startup_timeout: float = STARTUP_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ):
        self.listen = (listen_host, listen_port)
        self.upstream = (upstream_host, upstream_port)
        self.startup_timeout = startup_timeout
        self.max_connections = max_connections
        self.active = 0  # connections being served, counted on the event loop's thread only
        self._server: asyncio.base_events.Server | None = None

    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        u_writer = None
        self.active += 1
        try:
            if self.active > self.max_connections:
                raise StartupRefused("sorry, too many clients already", "53300")
            body = await asyncio.wait_for(read_startup(c_reader, c_writer), self.startup_timeout)
            (code,) = struct.unpack("!I", body[:4])
            u_reader, u_writer = await asyncio.open_connection(*self.upstream)
            if code == PROTOCOL_V3:
                body = rewrite_startup(body)
            u_writer.write(struct.pack("!I", len(body) + 4) + body)
            await u_writer.drain()
            if code != PROTOCOL_V3:  # CancelRequest: nothing comes back
                return
            to_server = asyncio.create_task(_pipe(c_reader, u_writer))
            await _relay_login(u_reader, c_writer)
            await asyncio.gather(_pipe(u_reader, c_writer), to_server)
        except StartupRefused as exc:
            log.info("relay refused a client: %s", exc)
            await _refuse(c_reader, c_writer, exc)
        except TimeoutError:
            log.info("relay dropped a client that sent no startup packet within %s s",
                     self.startup_timeout)  # fmt: skip
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            log.debug("relay connection ended: %s", exc)
        except Exception:
            # One client's connection ends here, whatever happened; the relay goes on serving.
            log.exception("relay connection failed")
        finally:
            self.active -= 1
            for w in (c_writer, u_writer):
                if w is not None:
                    w.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, *self.listen, reuse_address=True)

    async def serve_forever(self) -> None:
        await self.start()
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    def start_in_thread(self) -> threading.Thread:
        """Serve from a daemon thread; returns once the socket is listening."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the caller below
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=run, name="warehouse-relay", daemon=True)
        thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return thread


def _address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host or "127.0.0.1", int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:5439", help="host:port to accept clients on")
    parser.add_argument("--upstream", required=True, help="host:port of the PostgreSQL server")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s relay %(message)s")
    relay = Relay(*_address(args.listen), *_address(args.upstream))
    log.info("relaying %s:%s -> %s:%s", *relay.listen, *relay.upstream)
    asyncio.run(relay.serve_forever())


if __name__ == "__main__":
    main()
