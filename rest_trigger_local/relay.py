"""A PostgreSQL wire-protocol relay that lets ``redshift_connector`` talk to stock PostgreSQL.

redshift_connector always sends startup parameters that only Redshift understands
(``client_protocol_version`` and friends); PostgreSQL refuses the connection on the first one.
It also parses ``server_version`` with ``packaging``, which rejects a distro suffix such as
"15.18 (Debian 15.18-0+deb12u1)". The relay drops those parameters from the StartupMessage,
trims the reported version, answers SSL/GSS negotiation with "no", and otherwise copies bytes
untouched, so everything after login (queries, bound parameters, errors) is real PostgreSQL.

Run standalone (as the compose file does): ``python -m rest_trigger_local.relay --listen
0.0.0.0:5439 --upstream warehouse-db:5432``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import struct
import threading

log = logging.getLogger(__name__)

PROTOCOL_V3 = 196608
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102

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


def rewrite_startup(body: bytes) -> bytes:
    """Return the StartupMessage body without Redshift-only parameters (length prefix excluded)."""
    (version,) = struct.unpack("!I", body[:4])
    fields = body[4:].split(b"\x00")
    pairs = list(zip(fields[0::2], fields[1::2], strict=False))
    kept = [(k, v) for k, v in pairs if k and k.decode() not in REDSHIFT_ONLY_PARAMETERS]
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


class Relay:
    """Listens on ``listen_host:listen_port`` and forwards to ``upstream_host:upstream_port``."""

    def __init__(self, listen_host: str, listen_port: int, upstream_host: str, upstream_port: int):
        self.listen = (listen_host, listen_port)
        self.upstream = (upstream_host, upstream_port)
        self._server: asyncio.base_events.Server | None = None

    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        u_writer = None
        try:
            while True:
                (length,) = struct.unpack("!I", await c_reader.readexactly(4))
                body = await c_reader.readexactly(length - 4)
                (code,) = struct.unpack("!I", body[:4])
                if code in (SSL_REQUEST, GSSENC_REQUEST):
                    c_writer.write(b"N")  # no TLS here; real Redshift is reached directly, with SSL
                    await c_writer.drain()
                    continue
                break
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
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
            log.debug("relay connection ended: %s", exc)
        finally:
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
