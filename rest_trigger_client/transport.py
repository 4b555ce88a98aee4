"""The HTTP layer: where Airflow's REST API is and which version it speaks (/api/v1 on Airflow 2,
/api/v2 on Airflow 3; api_version.py holds the differences), who logs in, one connection pool,
retries while Airflow is unreachable, and raw requests.

Everything in this project that speaks to the REST API goes through a ``Transport``: the
client's own modules, the bench and the tests. Two kinds of call share its pool:

- ``send()`` is the client's: it asks the server's API version first (once), logs in as that
  version wants (basic auth, or a JWT it renews), sends JSON and returns the answer, raising
  HttpError for an error status. It retries, with backoff and then ``Unreachable``, after any
  transport error and on 502/503/504. A POST may so be sent twice; the client's callers handle
  that (``runs.py``: a 409 for its own run).
- ``request()``, ``get()`` and ``post()`` return the raw answer (status, headers, body) for
  callers that judge status codes themselves, on the version given or found by ``send()``,
  else /api/v1. They retry only what repeating cannot change: a connection that was never
  made, and a GET's read error (urllib3's ``Retry``, the same backoff); anything else is
  ``Unreachable`` at once.

- ``open_stream()`` is ``send()`` for an answer read as it comes (Airflow 3's wait endpoint,
  NDJSON): the same login, retries and errors up to the status line; the body is the caller's
  to read, line by line, and a drop while reading is the caller's to resume (wait_stream.py).

Every request any of them sends is counted in ``count`` (by method and path, each attempt):
the bench and the tests count requests from the client's side with it.

Both versions are spoken as raw JSON: the generated ``apache-airflow-client`` 2.x knows only
/api/v1 (its 3.x, for /api/v2, cannot share a venv with it), and one code path for both keeps
the behaviour the same. The generated client's ``ApiClient`` is kept for its connection pool.

Over 250 lines because the two kinds of request share the pool, the login and the retry
policy, and splitting them would scatter that one policy.
"""

from __future__ import annotations

import json as jsonlib
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode, urlsplit

import urllib3
from airflow_client import client as airflow_api

from rest_trigger_client import api_version
from rest_trigger_client.api_version import V1, ApiVersion
from rest_trigger_client.auth import BasicAuth, TokenAuth
from rest_trigger_client.errors import (
    ApiError,
    HttpError,
    RestTriggerError,
    Unreachable,
    http_error,
)
from rest_trigger_client.settings import ClientSettings

# Worth another try: the webserver restarting or a proxy in front of it.
RETRY_STATUSES = frozenset({502, 503, 504})
# A raw request is repeated after a read error only when repeating it changes nothing.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD"})
_OBJECT_REPR = re.compile(r"<[^>]+ at 0x[0-9a-f]+>: ")


class _Answered(Protocol):
    @property
    def status_code(self) -> int: ...


AnswerT = TypeVar("AnswerT", bound=_Answered)


@dataclass
class RequestCount:
    """The requests a transport has sent, each attempt once, by (method, path): what the bench
    reports as requests per run, and what the tests assert on (no per-second GETs of a run).
    Requests urllib3 repeats by itself (a raw GET's read retries) count once."""

    by_path: Counter[tuple[str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, method: str, url: str) -> None:
        with self._lock:  # wait_many's streams send from several threads
            self.by_path[(method.upper(), urlsplit(url).path)] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.by_path.values())

    def matching(self, fragment: str, method: str | None = None) -> int:
        """Requests whose path contains ``fragment`` (and with ``method``, when given)."""
        with self._lock:
            return sum(
                n
                for (m, path), n in self.by_path.items()
                if fragment in path and (method is None or m == method.upper())
            )

    def reset(self) -> None:
        with self._lock:
            self.by_path.clear()


@dataclass(frozen=True)
class _Opened:
    """A streamed answer whose status line has been read (open_stream)."""

    status_code: int
    raw: urllib3.BaseHTTPResponse


@dataclass(frozen=True)
class Response:
    """A raw answer, with the names ``requests.Response`` gives the parts the tests and the
    bench read."""

    status_code: int
    headers: Mapping[str, str]  # case-insensitive (urllib3's HTTPHeaderDict)
    content: bytes
    url: str

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    def raise_for_status(self) -> None:
        if not self.ok:
            raise ApiError(
                f"Airflow answered HTTP {self.status_code} for {self.url}: {self.text[:300]}",
                self.status_code,
            )


class Transport:
    def __init__(
        self,
        base_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        *,
        api: str | None = None,
        connect_retries: int = 4,
        backoff_seconds: float = 1.0,
        request_timeout: float = 30.0,
    ):
        """Unset connection values come from AIRFLOW_URL / AIRFLOW_USERNAME / AIRFLOW_PASSWORD /
        AIRFLOW_API_VERSION, then from `make run`'s local defaults; ``api`` is "v1", "v2" or
        "auto" (ask the server). While Airflow is unreachable (or answers 502/503/504) a call
        is retried ``connect_retries`` times, waiting ``backoff_seconds``, then twice as long
        each time."""
        self.settings = ClientSettings.resolve(base_url, username, password, api)
        self.connect_retries = max(0, connect_retries)
        self.backoff_seconds = backoff_seconds
        self.request_timeout = request_timeout
        config = airflow_api.Configuration(host=self.settings.base_url)
        config.retries = False  # retried here, with backoff and a message
        self.api = airflow_api.ApiClient(config)  # its pool manager is the pool
        self._version: ApiVersion | None = api_version.named(self.settings.api_version)
        self._auth: BasicAuth | TokenAuth | None = None
        self.attempts = 0  # attempts the last send() needed
        self.count = RequestCount()

    @property
    def version(self) -> ApiVersion:
        """The API version the server speaks: the one given, else asked once."""
        if self._version is None:
            self._version = self._detect()
        return self._version

    @property
    def auth(self) -> BasicAuth | TokenAuth:
        """This transport's login, as its API version wants it."""
        if self._auth is None:
            self._auth = self._login(self.settings.username, self.settings.password)
        return self._auth

    @property
    def api_url(self) -> str:
        return f"{self.settings.base_url}{(self._version or V1).prefix}"

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the client's requests ---------------------------------------------------------------
    def send(
        self,
        what: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        accept: str = "application/json",
    ) -> Response:
        """``method`` on the API's ``path`` as this transport's user, retried while Airflow is
        unreachable (``what`` names it in the Unreachable message). A refused token is renewed
        and the request sent once more. An HTTP error answer raises HttpError."""
        url = self._url(f"{self.settings.base_url}{self.version.prefix}{path}", params)

        def once() -> Response:
            headers = {**self.auth.headers(), "Accept": accept}
            return self._send_once(method, url, json, headers)

        answer = self._retrying(what, once)
        if not answer.ok and self.auth.refused(answer.status_code, answer.content):
            answer = self._retrying(what, once)
        if not answer.ok:
            raise HttpError(answer.status_code, None, answer.content, answer.headers)
        return answer

    def error(self, exc: HttpError, subject: str) -> RestTriggerError:
        """The exception a caller can act on, for an HTTP error answer about ``subject``."""
        return http_error(exc, subject, self.settings.username)

    def _detect(self) -> ApiVersion:
        def ask(prefix: str) -> Callable[[], Response]:
            url = f"{self.settings.base_url}{prefix}/version"
            return lambda: self._send_once("GET", url, None, {"Accept": "application/json"})

        v2 = self._retrying("GET version", ask(api_version.V2.prefix))
        found = api_version.from_version_answers(v2, None)
        if found is None:
            v1 = self._retrying("GET version", ask(V1.prefix))
            found = api_version.from_version_answers(v2, v1)
            if found is None:
                raise ApiError(
                    f"no Airflow REST API at {self.settings.base_url}: /api/v2/version answered "
                    f"HTTP {v2.status_code}, /api/v1/version HTTP {v1.status_code}",
                    v1.status_code,
                )
        return found

    def _login(self, username: str, password: str) -> BasicAuth | TokenAuth:
        def post(path: str, payload: Any) -> Response:
            url = f"{self.settings.base_url}{path}"
            return self._send_once("POST", url, payload, {"Accept": "application/json"})

        return self.version.login(username, password, post)

    def _retrying(self, what: str, once: Callable[[], AnswerT]) -> AnswerT:
        attempts = self.connect_retries + 1
        problem = ""
        for attempt in range(1, attempts + 1):
            self.attempts = attempt
            try:
                answer = once()
            except urllib3.exceptions.HTTPError as exc:
                problem = _OBJECT_REPR.sub("", str(exc.args[0] if exc.args else exc))
            else:
                if answer.status_code not in RETRY_STATUSES:
                    return answer
                problem = f"HTTP {answer.status_code}"
            if attempt < attempts:
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        raise self._unreachable(f"{what}, {attempts} attempt{'s' if attempts > 1 else ''}", problem)

    def _send_once(
        self, method: str, url: str, payload: Any, headers: Mapping[str, str]
    ) -> Response:
        """One request, no retry (``_retrying`` repeats it)."""
        sent = dict(headers)
        body = None
        if payload is not None:
            body = jsonlib.dumps(payload).encode()
            sent["Content-Type"] = "application/json"
        answer = self._pool_request(
            method, url, body=body, headers=sent, timeout=self.request_timeout, retries=False
        )
        return Response(answer.status, answer.headers, answer.data, url)

    def _pool_request(self, method: str, url: str, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        """Every request of this transport goes out here, so that ``count`` sees them all."""
        self.count.add(method, url)
        return self.api.rest_client.pool_manager.request(method, url, **kwargs)

    # -- a streamed answer -------------------------------------------------------------------
    def open_stream(
        self,
        what: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        accept: str,
        read_timeout: float,
    ) -> urllib3.BaseHTTPResponse:
        """GET the API's ``path`` as ``send()`` does (login, retries while unreachable, a
        refused token renewed once, HttpError for an error answer), but return the answer
        unread (urllib3's ``preload_content=False``): the caller reads it as it comes and
        closes it. ``read_timeout``: the longest silence between two reads."""
        url = self._url(f"{self.settings.base_url}{self.version.prefix}{path}", params)
        timeout = urllib3.Timeout(connect=self.request_timeout, read=read_timeout)

        def once() -> _Opened:
            headers = {**self.auth.headers(), "Accept": accept}
            raw = self._pool_request(
                "GET", url, headers=headers, timeout=timeout, retries=False,
                preload_content=False,
            )  # fmt: skip
            return _Opened(raw.status, raw)

        opened = self._retrying(what, lambda: self._drained_if_retried(once()))
        if opened.status_code < 400:
            return opened.raw
        answer = _read(opened, url)
        if self.auth.refused(answer.status_code, answer.content):
            opened = self._retrying(what, lambda: self._drained_if_retried(once()))
            if opened.status_code < 400:
                return opened.raw
            answer = _read(opened, url)
        raise HttpError(answer.status_code, None, answer.content, answer.headers)

    @staticmethod
    def _drained_if_retried(opened: _Opened) -> _Opened:
        # A 502/503/504 is retried: its body is read now, so its connection goes back to the
        # pool rather than leak while the retry waits.
        if opened.status_code in RETRY_STATUSES:
            opened.raw.drain_conn()
            opened.raw.release_conn()
        return opened

    @staticmethod
    def _url(url: str, params: Mapping[str, Any] | None) -> str:
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params, doseq=True)
        return url

    # -- raw requests ----------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """``method`` on ``{api_url}{path}``, as this transport's user unless ``auth`` (user,
        password) says otherwise; ``json`` is the body, ``params`` the query. Any answer is
        returned; no answer is Unreachable."""
        url = self._url(f"{self.api_url}{path}", params)
        login = self._raw_login(auth)
        sent = {**login.headers(), "Accept": "*/*"}
        body = None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        try:
            answer = self._pool_request(
                method.upper(),
                url,
                body=body,
                headers=sent,
                timeout=self.request_timeout if timeout is None else timeout,
                retries=self._raw_retries(),
            )
        except urllib3.exceptions.HTTPError as exc:
            problem = _OBJECT_REPR.sub("", str(getattr(exc, "reason", None) or exc))
            raise self._unreachable(f"{method.upper()} {path}", problem) from None
        return Response(answer.status, answer.headers, answer.data, url)

    def _raw_login(self, auth: tuple[str, str] | None) -> BasicAuth | TokenAuth:
        # Raw requests never ask the version themselves: basic auth on /api/v1 until known.
        if self._version is None:
            return BasicAuth(*(auth or (self.settings.username, self.settings.password)))
        return self._login(*auth) if auth else self.auth

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, payload: Any, **kwargs: Any) -> Response:
        return self.request("POST", path, json=payload, **kwargs)

    def _raw_retries(self) -> urllib3.Retry:
        # urllib3 waits 0 s before the first retry, then backoff_factor * 2, * 4, ...
        return urllib3.Retry(
            total=None,
            connect=self.connect_retries,
            read=self.connect_retries,
            other=0,
            status=0,
            redirect=5,
            allowed_methods=IDEMPOTENT_METHODS,
            backoff_factor=self.backoff_seconds / 2,
            raise_on_redirect=False,
            raise_on_status=False,
        )

    def _unreachable(self, what: str, problem: str) -> Unreachable:
        return Unreachable(
            f"Airflow at {self.settings.base_url} is unreachable ({what}): {problem}"
        )


def _read(opened: _Opened, url: str) -> Response:
    """An error answer of open_stream, read whole (its connection released)."""
    raw = opened.raw
    try:
        return Response(raw.status, raw.headers, raw.read(), url)
    finally:
        raw.release_conn()
