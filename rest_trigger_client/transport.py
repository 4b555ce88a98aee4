"""The HTTP layer: where Airflow's REST API (/api/v1, basic auth) is, who logs in, one connection
pool, the generated client's endpoints, retries while Airflow is unreachable, and raw requests.

Everything in this project that speaks to the REST API goes through a ``Transport``: the
client's own modules, the bench and the tests. Two kinds of call share its pool:

- ``call()`` runs a method of the generated client (``apache-airflow-client``) and retries it,
  with backoff and then ``Unreachable``, after any transport error and on 502/503/504. A POST
  may so be sent twice; the client's callers handle that (``runs.py``: a 409 for its own run).
- ``request()``, ``get()`` and ``post()`` return the raw answer (status, headers, body) for
  callers that judge status codes themselves. They retry only what repeating cannot change: a
  connection that was never made, and a GET's read error (urllib3's ``Retry``, the same
  backoff); anything else is ``Unreachable`` at once.
"""

from __future__ import annotations

import json as jsonlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import urllib3
from airflow_client import client as airflow_api
from airflow_client.client.api.dag_api import DAGApi
from airflow_client.client.api.dag_run_api import DAGRunApi
from airflow_client.client.api.task_instance_api import TaskInstanceApi
from airflow_client.client.api.x_com_api import XComApi
from airflow_client.client.exceptions import ApiException

from rest_trigger_client.errors import ApiError, RestTriggerError, Unreachable, http_error
from rest_trigger_client.settings import ClientSettings

T = TypeVar("T")

# Worth another try: the webserver restarting or a proxy in front of it.
RETRY_STATUSES = frozenset({502, 503, 504})
# A raw request is repeated after a read error only when repeating it changes nothing.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD"})
_OBJECT_REPR = re.compile(r"<[^>]+ at 0x[0-9a-f]+>: ")


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
        connect_retries: int = 4,
        backoff_seconds: float = 1.0,
        request_timeout: float = 30.0,
    ):
        """Unset connection values come from AIRFLOW_URL / AIRFLOW_USERNAME / AIRFLOW_PASSWORD,
        then from `make run`'s local defaults. While Airflow is unreachable (or answers
        502/503/504) a call is retried ``connect_retries`` times, waiting ``backoff_seconds``,
        then twice as long each time."""
        self.settings = ClientSettings.resolve(base_url, username, password)
        self.connect_retries = max(0, connect_retries)
        self.backoff_seconds = backoff_seconds
        self.request_timeout = request_timeout
        config = airflow_api.Configuration(
            host=self.api_url,
            username=self.settings.username,
            password=self.settings.password,
        )
        config.retries = False  # retried here, with backoff and a message
        self.api = airflow_api.ApiClient(config)
        self.dags = DAGApi(self.api)
        self.runs = DAGRunApi(self.api)
        self.task_instances = TaskInstanceApi(self.api)
        self.xcoms = XComApi(self.api)
        self.attempts = 0  # attempts the last call() needed

    @property
    def api_url(self) -> str:
        return f"{self.settings.base_url}/api/v1"

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the generated client's methods ----------------------------------------------------
    def call(self, what: str, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``method(*args, **kwargs)``, retried while Airflow is unreachable; ``what`` names
        the request in the Unreachable message. An HTTP error answer raises ApiException."""
        attempts = self.connect_retries + 1
        problem = ""
        for attempt in range(1, attempts + 1):
            self.attempts = attempt
            try:
                return method(*args, _request_timeout=self.request_timeout, **kwargs)
            except urllib3.exceptions.HTTPError as exc:
                problem = _OBJECT_REPR.sub("", str(exc.args[0] if exc.args else exc))
            except ApiException as exc:
                if exc.status not in RETRY_STATUSES:
                    raise
                problem = f"HTTP {exc.status} {exc.reason}"
            if attempt < attempts:
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        raise self._unreachable(f"{what}, {attempts} attempt{'s' if attempts > 1 else ''}", problem)

    def error(self, exc: ApiException, subject: str) -> RestTriggerError:
        """The exception a caller can act on, for an HTTP error answer about ``subject``."""
        return http_error(exc, subject, self.settings.username)

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
        """``method`` on ``/api/v1{path}``, as this transport's user unless ``auth`` (user,
        password) says otherwise; ``json`` is the body, ``params`` the query. Any answer is
        returned; no answer is Unreachable."""
        url = f"{self.api_url}{path}"
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        user, password = auth or (self.settings.username, self.settings.password)
        sent = {**urllib3.make_headers(basic_auth=f"{user}:{password}"), "Accept": "*/*"}
        body = None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        try:
            answer = self.api.rest_client.pool_manager.request(
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
