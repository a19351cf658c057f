"""The platform operators' pages: ``/ops/review``, the review queue (资质审核 / 团长审核).

Applications with their public profile and the digest of their private credentials; a reviewer
signs in with Sign-In with Ethereum to open the credentials (the page checks the file against the
digest on chain), then approves, rejects with a reason, or revokes with a reason: each a request
the reviewer signs and the registry checks (``PLATFORM_ROLE``), relayed like every action. The
page is public; the credentials and the decisions are not: the API and the chain refuse others.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from api.db import ensure_db
from api.names import Directory
from api.render import render
from api.review import queue
from api.routes.deps import ServicesDep

router = APIRouter(tags=["pages"])


@router.get("/ops/review", response_class=HTMLResponse, summary="The review queue (HTML)")
def review_page(request: Request, services: ServicesDep) -> Response:
    ensure_db(services.engine)
    with Session(services.engine) as session:
        applications = queue(session, Directory(session, services.store))
    pending = sum(1 for a in applications if a.status == "pending")
    return render(request, "ops_review.html", {"applications": applications, "pending": pending})
