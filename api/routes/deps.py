"""Request dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from api.services import Services


def get_services(request: Request) -> Services:
    """The app's services (the one place that reads ``app.state``)."""
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


# The largest integer SQLite and PostgreSQL BIGINT store; ids and offsets beyond it are bad input
# (a 422), not a driver overflow (a 500).
DB_INT_MAX = 2**63 - 1

DealId = Annotated[int, Path(ge=0, le=DB_INT_MAX, description="the escrow's deal id")]
