"""A keep-alive HTTP transport on the standard library's `http.client`, for the cases that send
thousands of requests in a row (the parameter fuzzing).

It is the part of `requests.Session` that `DeviceClient` uses (`get`, `post`, `request`, `close`,
`trust_env`; answers with `status_code`, `text`, `headers`), without what a device API needs none
of and requests pays for on every request (hooks, cookies, redirects, proxies from the
environment, adapters, urllib3's pool): a third of the client's time per request, measured on the
bundled decoder (`benchmarks/fuzz.py`: requests 0.67 ms, urllib3 0.33 ms, http.client 0.22 ms a
request, the decoder's time included). Only this adapter is written here; HTTP itself is
http.client's. Its failures are raised as requests' exceptions, so a caller that catches
`requests.RequestException` sees the same as with a `requests.Session`.
"""

from __future__ import annotations

import codecs
import http.client
import socket
from collections.abc import Mapping
from email.message import Message
from urllib.parse import urlencode, urlsplit

import requests

#: A kept connection the server closed while it sat idle: sent again once on a new connection.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class PooledResponse:
    """An answer: status, headers (case-insensitive) and body text."""

    def __init__(self, status: int, headers: Message, body: bytes) -> None:
        self.status_code = status
        self.headers = headers
        self.text = body.decode(_charset(headers.get("Content-Type", "")), "replace")


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            try:
                return codecs.lookup(value.strip('"')).name
            except LookupError:
                break
    return "utf-8"


class PooledSession:
    """One keep-alive connection per host, no redirects, nothing from the environment (the
    device is the only host: `DeviceClient.url_for` refuses any other)."""

    trust_env = False

    def __init__(self) -> None:
        self._connections: dict[tuple[str, str], http.client.HTTPConnection] = {}

    def get(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> PooledResponse:
        """GET `url` with `params` in the query string."""
        query = urlencode(dict(params or {}))
        if query:
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        return self._send("GET", url, None, headers, timeout)

    def post(
        self,
        url: str,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> PooledResponse:
        """POST `url` with `data` as an application/x-www-form-urlencoded body."""
        form = {"Content-Type": "application/x-www-form-urlencoded", **dict(headers or {})}
        return self._send("POST", url, urlencode(dict(data or {})).encode(), form, timeout)

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> PooledResponse:
        """Any other method, without a body."""
        return self._send(method, url, None, headers, timeout)

    def close(self) -> None:
        """Close the kept connections (the next request opens a new one)."""
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def _send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        timeout: float | None,
    ) -> PooledResponse:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        key = (parts.scheme, parts.netloc)
        for attempt in (1, 2):
            reused = key in self._connections
            try:
                connection = self._connection(key, timeout)
                connection.request(method, target or "/", body=body, headers=dict(headers or {}))
                response = connection.getresponse()
                answer = PooledResponse(response.status, response.headers, response.read())
            except _STALE as exc:
                self._drop(key)
                if reused and attempt == 1:
                    continue
                raise requests.ConnectionError(f"{method} {url}: {exc}") from exc
            except TimeoutError as exc:
                self._drop(key)
                raise requests.Timeout(f"{method} {url}: {exc}") from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop(key)
                raise requests.ConnectionError(f"{method} {url}: {exc}") from exc
            if response.will_close:
                self._drop(key)
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(
        self, key: tuple[str, str], timeout: float | None
    ) -> http.client.HTTPConnection:
        connection = self._connections.get(key)
        if connection is not None:
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
            return connection
        scheme, netloc = key
        factory = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        connection = factory(netloc, timeout=timeout)
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._connections[key] = connection
        return connection

    def _drop(self, key: tuple[str, str]) -> None:
        connection = self._connections.pop(key, None)
        if connection is not None:
            connection.close()
