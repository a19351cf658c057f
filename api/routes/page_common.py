"""What the HTML pages share: an address from the path (400 ``invalid_address`` otherwise), the
error page, and the "connect a wallet or give an address" page that looks an address up."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from web3 import Web3

from api.errors import ApiError, error_responses
from api.render import choose_language, render

LookupAddress = Annotated[
    str | None, Query(description="look up this address's page without a wallet (303 to it)")
]
CONNECT_RESPONSES: dict[int | str, dict[str, Any]] = {
    303: {"description": "the looked-up address's page"},
    **error_responses(400, html=True),
}


def page_address(value: str) -> str:
    """``value`` checksummed; ApiError 400 ``invalid_address`` if it is not an address."""
    if not Web3.is_address(value):
        raise ApiError(400, "invalid_address", f"not an Ethereum address: {value!r}")
    return Web3.to_checksum_address(value)


def page_error(request: Request, exc: ApiError) -> HTMLResponse:
    """The error page (a browser gets HTML, not the API's JSON) with the error's status."""
    return render(
        request,
        "error.html",
        {"status": exc.status, "code": exc.code, "message": exc.message},
        status_code=exc.status,
    )


def connect_page(
    request: Request, title: str, base: str, address: str | None, go: str | None = None
) -> Response:
    """``base``'s connect page; with ``address`` (the look-up form, no wallet) a 303 to ``go``
    (``base/{address}`` unless given) with that address, or the error page for something that
    is not an address."""
    go = go or base + "/{address}"
    if address:
        lang = choose_language(request)
        try:
            found = page_address(address.strip())
        except ApiError as exc:
            return page_error(request, exc)
        return RedirectResponse(f"{go.replace('{address}', found)}?lang={lang}", 303)
    return render(request, "connect.html", {"title": title, "base": base, "go": go})
