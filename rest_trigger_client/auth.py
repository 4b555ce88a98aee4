"""How the client logs in: HTTP basic auth on Airflow 2's /api/v1, a JWT bearer token on
Airflow 3's /api/v2 (fetched from ``POST /auth/token`` with the same username and password,
renewed before it expires and once when Airflow refuses it)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import urllib3

from rest_trigger_client.errors import HttpError
from rest_trigger_etl.airflow_compat import API_V2

if TYPE_CHECKING:
    from rest_trigger_client.transport import Response

assert API_V2.token is not None  # v2 logs in for a token by definition
TOKEN_PATH = API_V2.token
# Renew this long before the token's ``exp`` (at most this share of its lifetime), so that a
# request sent just before expiry does not arrive just after it.
RENEW_MARGIN_SECONDS = 30.0
RENEW_MARGIN_SHARE = 0.1

# (path under the base URL, JSON body) -> the raw answer; the transport's own POST
PostJson = Callable[[str, Any], "Response"]


class BasicAuth:
    """Airflow 2's ``basic_auth`` backend: the login in every request."""

    def __init__(self, username: str, password: str):
        self._header = urllib3.make_headers(basic_auth=f"{username}:{password}")

    def headers(self) -> dict[str, str]:
        return dict(self._header)

    def refused(self, status: int, body: bytes) -> bool:
        """Whether to log in again and resend: never, basic auth has nothing to renew."""
        return False


class TokenAuth:
    """Airflow 3: ``POST /auth/token`` ``{"username", "password"}`` answers 201
    ``{"access_token"}``; requests send ``Authorization: Bearer <token>``. One token per client,
    fetched on the first request."""

    def __init__(self, username: str, password: str, post: PostJson):
        self.username = username
        self._password = password
        self._post = post
        self._token: str | None = None
        self._renew_at = 0.0  # time.time() after which the token is fetched again
        self.expires_at: float | None = None  # the current token's exp claim
        self.fetched = 0  # tokens fetched so far (the tests read it)

    def headers(self) -> dict[str, str]:
        if self._token is None or time.time() >= self._renew_at:
            self._fetch()
        return {"Authorization": f"Bearer {self._token}"}

    def refused(self, status: int, body: bytes) -> bool:
        """Whether Airflow refused the token itself (expired, or signed with a secret it no
        longer has): then forget it, so that the next ``headers()`` fetches a new one. Airflow
        3.3 answers 401 without a token and for an expired one ("Token Expired", once its
        ``[api_auth] jwt_leeway`` has passed too), 403 "Invalid JWT token" for one it cannot
        verify."""
        if status == 401 or (status == 403 and b"JWT" in body):
            self._token = None
            return True
        return False

    def _fetch(self) -> None:
        answer = self._post(TOKEN_PATH, {"username": self.username, "password": self._password})
        if not answer.ok:
            raise HttpError(answer.status_code, "token refused", answer.content, answer.headers)
        self._token = str(answer.json()["access_token"])
        self.fetched += 1
        issued = time.time()
        self.expires_at = token_expiry(self._token)
        expires = self.expires_at or issued + 3600
        margin = min(RENEW_MARGIN_SECONDS, max(0.0, expires - issued) * RENEW_MARGIN_SHARE)
        self._renew_at = expires - margin


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (seconds since the epoch), read without checking the signature:
    only to know when to renew it; Airflow checks it."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None
