"""A bound on every request body, before any route reads it.

Without one, a body is read whole before a route can judge it: FastAPI reads a JSON body into
memory (``await request.json()``) and Starlette spools a multipart body's files to disk, both
before the route's dependencies run — so an anonymous client could make the service hold
gigabytes for one request whose route would then refuse it (a document upload checks its size,
signature and uploader only once its file is parsed). :class:`BodyLimit` is an ASGI middleware
that answers 413 ``request_too_large``:

- at once, for a ``Content-Length`` above the bound (nothing is read);
- as soon as the bytes received pass the bound, for a body without one (chunked): the route is
  stopped where it reads the body, and whatever it would have answered is replaced by the 413.

The bound is the largest body a route takes: a document upload (:data:`MAX_REQUEST_BYTES`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from api.errors import error_body
from api.routes.documents import MAX_UPLOAD_BYTES

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A document upload's file and the multipart framing and form fields around it.
MAX_REQUEST_BYTES = MAX_UPLOAD_BYTES + 64 * 1024


class BodyTooLarge(Exception):
    """Raised into the route reading a body past the bound (the middleware answers 413)."""


class BodyLimit:
    """ASGI middleware: a request body longer than ``max_bytes`` is a 413, never read whole."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        too_large = False
        started = False

        async def bounded_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise BodyTooLarge(f"the request body passed {self.max_bytes} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:
                return  # the route's answer to a body it could not read: the 413 is sent instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except BodyTooLarge:
            pass
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            error_body(
                "request_too_large",
                f"request bodies are limited to {self.max_bytes} bytes",
                limit=self.max_bytes,
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


__all__ = ["MAX_REQUEST_BYTES", "BodyLimit", "BodyTooLarge"]
