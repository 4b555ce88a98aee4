"""The ASGI interface the project's Airflow 3 middlewares speak (request_size_limit,
token_guard), as plain types: no Starlette import, so the 2.11 test environment drives them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
