"""``Cache-Control: no-store`` on every response whose content depends on who is signed in.

A page or an API answer built from the caller's session (an operator's webhooks and their
dead letters, someone's contact details) must never be kept by a shared cache or the browser's
history for the next person. Rather than each route remembering a header, whatever reads the
session (:func:`api.routes.deps.signed_in`, the one way a route learns who is signed in) marks
the request (:func:`mark_session_read`), signed in or refused alike: the anonymous answer of such
a route is not the signed-in one either. :class:`SessionNoStore`, an ASGI middleware, then sets
the header on the response, whatever the route returned (a page, JSON, an error).
"""

from __future__ import annotations

from starlette.requests import Request

from api.bodylimit import ASGIApp, Message, Receive, Scope, Send

STATE_KEY = "session_read"


def mark_session_read(request: Request) -> None:
    """This request's answer depends on its session: it is sent with ``no-store``."""
    setattr(request.state, STATE_KEY, True)


class SessionNoStore:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def marked_send(message: Message) -> None:
            if message["type"] == "http.response.start" and state.get(STATE_KEY):
                headers = message.get("headers", [])
                # A route's own policy that already forbids storing stays (``private, no-store``
                # on a private document); any other is replaced.
                if not any(
                    name.lower() == b"cache-control" and b"no-store" in value.lower()
                    for name, value in headers
                ):
                    kept = [
                        (name, value) for name, value in headers if name.lower() != b"cache-control"
                    ]
                    message["headers"] = [*kept, (b"cache-control", b"no-store")]
            await send(message)

        await self.app(scope, receive, marked_send)


__all__ = ["SessionNoStore", "mark_session_read"]
