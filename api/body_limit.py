"""Every request body is bounded: :class:`BodyLimit` answers 413 ``body_too_large`` (the limit in
``details.limit``) for a body over ``max_bytes`` — at once by its ``Content-Length``, or as soon
as a streamed one passes the limit — before a route has read it whole into memory or spooled it
to disk (a multipart upload is parsed whole before the route's own size check runs).

The limit is far above any legitimate body: a 10 MB document upload
(:data:`api.routes.documents.MAX_UPLOAD_BYTES`) with its multipart framing, or a Merkle batch of
up to :data:`api.relayer.action_params.MAX_ROOT_EVENTS` events built from a 2 MB sensor CSV.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body

MAX_REQUEST_BYTES = 32 * 1024 * 1024


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Pure ASGI middleware (streams are counted as they arrive, nothing is buffered here)."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        exceeded = started = False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the route's answer to a body cut short: replaced by the 413 below
            started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            error_body(
                "body_too_large",
                f"request bodies are limited to {self.max_bytes} bytes",
                limit=self.max_bytes,
            )
        ).encode()
        headers: list[Any] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
