"""Routes whose JSON bodies are read by msgspec (:mod:`chain.fastjson`), not ``json``.

Why (issue 15): under the 2,000-join rush, ``json.loads`` of the relay route's bodies (the signed
typed data, ~3 KB each) was ~1.8 % of the service's CPU; msgspec reads them in a fraction of the
time and gives the same values (``chain.fastjson``: integers exact, the last of repeated keys).
The route reads the body once and leaves the parsed value where Starlette's ``Request.json``
keeps it, so FastAPI finds it there whenever it would parse the body itself (a JSON content
type); a body msgspec and ``json`` cannot read is left alone, and FastAPI parses it again and
refuses it in its own words (422 ``json_invalid``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from contextlib import suppress
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from chain import fastjson


class FastJsonRoute(APIRoute):
    """An ``APIRoute`` whose request body, when it is JSON, is read by :func:`fastjson.loads`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            body = await request.body()
            if body:
                # A body neither reader takes is left alone: FastAPI parses it and says why.
                with suppress(Exception):
                    request._json = fastjson.loads(body)  # (Request.json's own cache)
            return await handler(request)

        return route_handler


__all__ = ["FastJsonRoute"]
