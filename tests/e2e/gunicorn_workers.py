"""Which of 2.11's webserver workers answers, chosen from outside, and logins from any loopback
address: what tests/e2e/test_security_e2e.py needs to show that the login throttle holds
whichever worker answers.

A gunicorn ``sync`` worker (Airflow's default ``[webserver] worker_class``) serves one
connection at a time. ``Router`` keeps one of the two workers inside a request that never ends
(headers without the blank line after them), so the kernel hands every new connection to the
other; ``switch()`` occupies the free one first, then frees the busy one, so the two swap roles.
Which process holds each connection is read with psutil, not assumed. Gunicorn's arbiter kills a
worker stuck longer than ``web_server_worker_timeout`` (120 s): a Router is held for seconds.
"""

from __future__ import annotations

import base64
import http.client
import socket
import time
from dataclasses import dataclass
from email.message import Message

import psutil

from tests.support.harness import Stack


def worker_pids(stack: Stack) -> list[int]:
    """The webserver's gunicorn workers: processes of the stack listening on its port whose
    parent listens there too (the master)."""
    port = stack.settings.airflow_port
    listening = set()
    for process in psutil.Process(stack.process.pid).children(recursive=True):
        try:
            sockets = process.net_connections(kind="tcp")
        except psutil.Error:
            continue
        if any(s.status == psutil.CONN_LISTEN and s.laddr.port == port for s in sockets):
            listening.add(process.pid)
    return sorted(pid for pid in listening if psutil.Process(pid).ppid() in listening)


def _holder(local: tuple[str, int], pids: list[int]) -> int | None:
    for pid in pids:
        try:
            sockets = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        if any(s.raddr and (s.raddr.ip, s.raddr.port) == local for s in sockets):
            return pid
    return None


class Router:
    def __init__(self, stack: Stack) -> None:
        self.address = (stack.settings.airflow_host, stack.settings.airflow_port)
        self.workers = worker_pids(stack)
        assert len(self.workers) == 2, f"expected 2 gunicorn workers, found {self.workers}"
        self._hog: socket.socket | None = None
        self.busy = 0
        self.switch()

    @property
    def answering(self) -> int:
        """The worker that answers every new connection now."""
        return next(pid for pid in self.workers if pid != self.busy)

    def switch(self) -> None:
        hog = socket.create_connection(self.address, timeout=30)
        hog.sendall(b"GET /health HTTP/1.1\r\nHost: router\r\n")  # never finished
        local = hog.getsockname()[:2]
        deadline = time.monotonic() + 30
        while (holder := _holder(local, self.workers)) is None:
            assert time.monotonic() < deadline, f"no worker of {self.workers} accepted {local}"
            time.sleep(0.05)
        if self._hog is not None:
            self._hog.close()  # the worker that held it reads EOF and takes connections again
        self._hog, self.busy = hog, holder

    def close(self) -> None:
        if self._hog is not None:
            self._hog.close()
            self._hog = None


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes


def login_from(stack: Stack, source: str, username: str, password: str) -> Answer:
    """GET /api/v1/dags with basic auth, on a new connection from the loopback address
    ``source`` (any of 127.0.0.0/8): each test locks an address of its own."""
    host, port = stack.settings.airflow_host, stack.settings.airflow_port
    conn = http.client.HTTPConnection(host, port, timeout=60, source_address=(source, 0))
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    try:
        conn.request("GET", "/api/v1/dags", headers={"Authorization": f"Basic {token}"})
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()
