"""What the sync and async clients share: requests as values, retries, SSE parsing."""

from __future__ import annotations

import json
import os
import random
import time
import warnings
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from ._exceptions import retry_after_seconds

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 3
# How long wait() keeps trying through an API restart or outage before it gives up.
DEFAULT_WAIT_RETRY_S = 120.0
RETRY_STATUSES = frozenset({429, 503})
# What wait() rides out for wait_retry_s: a restarting API or a proxy in front of one.
OUTAGE_STATUSES = frozenset({502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT"})
# Streams get pings every 15 s, so a longer silence means a dead connection.
STREAM_READ_TIMEOUT = 45.0
MAX_BACKOFF = 30.0

try:
    from importlib.metadata import version as _version

    __version__ = _version("descent")
except Exception:  # not installed (running from a source tree)
    __version__ = "0.0.0"


@dataclass(frozen=True)
class Request:
    """One HTTP call described as a value, so sync and async clients share every operation."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    files: Mapping[str, Any] | None = None
    data: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotent: bool | None = None  # None: decided by the method and Idempotency-Key
    accept: tuple[int, ...] = ()  # error-range statuses returned instead of raised (304)

    @property
    def retryable(self) -> bool:
        """Return True when sending this request twice cannot do anything twice."""
        if self.idempotent is not None:
            return self.idempotent
        return self.method in IDEMPOTENT_METHODS or "Idempotency-Key" in self.headers


# An operation is a generator that yields Requests and receives their Responses.
Op = Generator[Request, httpx.Response, T]


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event: `event` is "epoch", "status" or "diagnosis", `data` the decoded
    JSON (a `Diagnosis` for "diagnosis" events of `runs.events`)."""

    event: str
    data: Any
    id: str | None = None


class SSEDecoder:
    """Turn the lines of a text/event-stream into Events (comments and pings are skipped)."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, line: str) -> Event | None:
        """Consume one line; return an Event when a blank line completes one."""
        if not line:
            if not self._data:
                self._event = ""
                return None
            raw = "\n".join(self._data)
            try:
                data: Any = json.loads(raw)
            except ValueError:
                data = raw
            event = Event(self._event or "message", data, self._id)
            self._event, self._data, self._id = "", [], None
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = value
        return None


class BaseClient:
    """Configuration and retry policy common to Client and AsyncClient."""

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        timeout: float | None,
        max_retries: int,
        backoff: float,
        wait_retry_s: float = DEFAULT_WAIT_RETRY_S,
    ) -> None:
        self.base_url, self.url_source = resolve_base_url(base_url)
        self.api_key = api_key if api_key is not None else os.environ.get("DESCENT_API_KEY")
        self.timeout = timeout
        self._owns_http = True
        self.max_retries = max_retries
        self.backoff = backoff
        self.wait_retry_s = wait_retry_s

    def where(self) -> str:
        """Say which server this client talks to and how to point it elsewhere."""
        if self.url_source == "default":
            return (
                f"the server at {self.base_url} (the default: DESCENT_URL is not set; set it, "
                "or pass Client(base_url=...))"
            )
        how = "DESCENT_URL" if self.url_source == "DESCENT_URL" else "base_url"
        return f"the server at {self.base_url} (from {how}; set DESCENT_URL or pass base_url=)"

    def transport_error(self, request: Request, exc: Exception) -> str:
        """Return the message of a connection failure: the URL, the cause and the setting."""
        return f"{request.method} {self._url(request.path)}: {exc}; could not reach {self.where()}"

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"User-Agent": f"descent-python/{__version__}"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        headers.update(extra or {})
        return headers

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Return how long to sleep before retry number `attempt` (0-based)."""
        hinted = retry_after_seconds(response)
        if hinted is not None:
            return min(hinted, MAX_BACKOFF)
        # Exponential backoff with full jitter so many clients do not retry in step.
        return random.uniform(0, min(MAX_BACKOFF, self.backoff * 2**attempt))

    def _should_retry(self, request: Request, attempt: int, status: int | None) -> bool:
        if not request.retryable or attempt >= self.max_retries:
            return False
        return status is None or status in RETRY_STATUSES

    def _timeout_option(
        self, stream: bool = False, deadline: float | None = None
    ) -> dict[str, Any]:
        """Return the timeout to pass per request (none for an http_client passed in)."""
        if not self._owns_http:
            return {}
        if not stream:
            return {"timeout": self.timeout}
        connect = self.timeout if self.timeout is not None else DEFAULT_TIMEOUT
        read = STREAM_READ_TIMEOUT
        if deadline is not None:  # wake up at the deadline even if the server stays silent
            read = max(0.05, min(read, deadline - time.monotonic()))
        return {"timeout": httpx.Timeout(connect, read=read)}


def resolve_base_url(base_url: str | None) -> tuple[str, str]:
    """Return (base URL, where it came from); a trailing /v1 is dropped with a warning."""
    if base_url:
        url, source = base_url, "base_url"
    elif os.environ.get("DESCENT_URL"):
        url, source = os.environ["DESCENT_URL"], "DESCENT_URL"
    else:
        url, source = DEFAULT_URL, "default"
    url = url.rstrip("/")
    if url.endswith("/v1"):
        # Every request path already starts with /v1: "http://host/v1" would ask for
        # /v1/v1/runs and get a bare 404, so say so and use the server's root instead.
        root = url[: -len("/v1")]
        warnings.warn(
            f"{source} {url!r} ends in /v1; the client adds /v1 itself, so it uses {root!r}",
            stacklevel=4,
        )
        url = root
    return url, source


def jsonable(value: Any) -> Any:
    """Convert numpy arrays / pandas objects / tuples into plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
