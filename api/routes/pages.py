"""Server-rendered pages: the consumer provenance page, a deal page, the dashboard.

Mobile-first HTML from Jinja2 templates with inline SVG charts; the join form is driven by the
shared client (``/static/wallet.js``: any EIP-6963 wallet, prepare → sign → ``POST /v1/relay``).
Without a wallet the page still works. Pickup points are shown by name (:mod:`api.names`).

The provenance page is reached from the Digital Link resolver (``/01/{gtin}/10/{lot}``); the
deal page reads live totals from the chain (one deal: a few calls); the dashboard reads the index.
"""

from __future__ import annotations

import logging
import mimetypes
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy.orm import Session

from api.errors import ApiError, as_api_error, error_responses
from api.index_errors import NotInIndex
from api.render import STATIC_DIR, pick, render
from api.routes.deps import DealId, get_services
from api.routes.page_common import page_address, page_error
from api.services import Services
from api.timefmt import at_offset, iso_utc
from chain import deal_rules
from chain import errors as chain_errors
from chain.artifacts import REPO_ROOT
from chain.clients import DealStatus, PartyKind, PartyStatus
from traceability.digital_link import build_link
from traceability.safe_json import loads_bounded

logger = logging.getLogger(__name__)

router = APIRouter(tags=["pages"])

STEP_ICONS = {
    "commissioning": "🌱",
    "shipping": "🚚",
    "receiving": "🏠",
    "inspecting": "🔬",
    "sensor_reporting": "🌡️",
    "holding": "⛔",
    "transforming": "🏭",
}
_LEADERS_TTL = 30.0
_leaders_cache: dict[str, tuple[float, list[str]]] = {}


def _gln(uri: str | None) -> str | None:
    """The GLN of a ``.../414/{gln}`` Digital Link read point (else None)."""
    if uri and "/414/" in uri:
        return uri.split("/414/", 1)[1].split("/", 1)[0]
    return None


def place_name(uri: str | None, places: dict[str, Any], lang: str) -> str:
    gln = _gln(uri)
    if gln and gln in places:
        return pick(places[gln], lang)
    return f"GLN {gln}" if gln else (uri or "")


def step_of(event: dict[str, Any]) -> str:
    """``bizStep`` as its bare CBV term (``https://ref.gs1.org/cbv/BizStep-shipping`` → shipping)."""
    step = event.get("biz_step") or ""
    step = step.rsplit("/", 1)[-1].removeprefix("BizStep-").removeprefix("cbv:")
    if event.get("type") == "TransformationEvent":
        return "transforming"
    return step or "observing"


def approved_leaders(services: Services) -> list[str]:
    """Approved leaders from the registry's logs (cached briefly: the page is hit often)."""
    registry = services.chain.clients.registry
    key = f"{services.settings.rpc_url} {registry.address}"
    cached = _leaders_cache.get(key)
    if cached and time.monotonic() - cached[0] < _LEADERS_TTL:
        return cached[1]
    seen = dict.fromkeys(
        e["args"]["account"]
        for e in registry.get_events(
            "PartyApproved",
            from_block=services.chain.deployment.contracts["ProvenanceRegistry"].block,
        )
        if int(e["args"]["kind"]) == PartyKind.LEADER
    )
    leaders = [
        a for a in seen if registry.party(PartyKind.LEADER, a).status == PartyStatus.APPROVED
    ]
    _leaders_cache[key] = (time.monotonic(), leaders)
    return leaders


def people(services: Services, addresses: list[str]) -> list[Any]:
    """``addresses`` as named people (leaders with their pickup points, suppliers): from their
    credentials, else the short address (:mod:`api.names`)."""
    from api.names import Directory, Person

    try:
        with Session(services.engine) as session:
            directory = Directory(session, services.store)
            directory.load(addresses)
            return [directory.get(a) for a in addresses]
    except Exception as exc:  # noqa: BLE001 - an index outage costs the names, not the page
        logger.warning("names unavailable: %s", exc)
        return [Person(a) for a in addresses]


def _at_sensor_offset(cold: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """The cold chain's readings and breaches (UTC in the index) at the offset of the sensor
    reports they came from, as the trail prints its events: where they were measured. The
    reports' documents say it (``eventTimeZoneOffset``); when they disagree, UTC, named so."""
    offsets = {
        (e.get("document") or {}).get("eventTimeZoneOffset")
        for e in events
        if (e.get("document") or {}).get("sensorElementList")
    }
    offset = offsets.pop() if len(offsets) == 1 else None
    return {
        **cold,
        **{
            part: [{**r, "time": at_offset(r.get("time"), offset)} for r in cold.get(part, [])]
            for part in ("readings", "breaches")
        },
    }


def provenance_page(
    request: Request, services: Services, provenance: dict[str, Any]
) -> HTMLResponse:
    """The consumer page of one batch (called by the resolver for browsers)."""
    from api.render import choose_language

    lang = choose_language(request)
    batch = provenance["batch"]
    metadata = batch.get("metadata") or {}
    places = metadata.get("places") or {}
    events = []
    for event in provenance.get("events", []):
        step = step_of(event)
        events.append(
            {
                **event,
                "step": step,
                "icon": STEP_ICONS.get(step, "•"),
                "place": place_name(event.get("read_point"), places, lang),
                # Where it happened, not the reader's zone: the offset its signed document
                # carries (the time is printed with that offset named; see time_tag).
                "happened_at": at_offset(
                    event.get("event_time"),
                    (event.get("document") or {}).get("eventTimeZoneOffset"),
                ),
            }
        )
    cold = _at_sensor_offset(provenance.get("cold_chain") or {}, provenance.get("events", []))
    limits = metadata.get("cold_chain") or {}
    breach_limits = {b.get("bound"): b.get("limit") for b in cold.get("breaches", [])}
    min_c = limits.get("min_c", breach_limits.get("min"))
    max_c = limits.get("max_c", breach_limits.get("max"))
    try:
        leaders = approved_leaders(services)
    except Exception as exc:  # noqa: BLE001 - the page must render even while the node is down
        logger.warning("leaders unavailable: %s", exc)
        leaders = []
    leader = request.query_params.get("leader")
    return render(
        request,
        "provenance.html",
        {
            "p": provenance,
            "supplier": people(services, [batch["supplier"]["address"]])[0],
            "batch": batch,
            "meta": metadata,
            "events": events,
            "cold": cold,
            "min_c": min_c,
            "max_c": max_c,
            "points": people(services, leaders),
            "leader": leader if leader in leaders else (leaders[0] if leaders else ""),
            "link": build_link(batch["gtin"], batch["lot"], resolver=str(request.base_url)),
            "recall_reason": _recall_reason(services, provenance.get("recall")),
            "certificates": [
                row
                for c in provenance.get("certificates", [])
                for row in _certificate_rows(services, c)
            ],
        },
    )


def _certificate_rows(services: Services, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of one certificate entry: an ``ipfs://`` certificate is read from the store for
    its title, number and issuer; any other reference (a URI, a certification name) is shown."""
    certification = entry.get("certification")
    if isinstance(certification, dict):
        refs = [certification.get("certificationInfo"), certification.get("certifications")]
    else:
        refs = [certification]
    flat: list[str] = []
    for ref in refs:
        flat.extend([ref] if isinstance(ref, str) else [r for r in ref or [] if isinstance(r, str)])
    rows = []
    for ref in flat:
        row: dict[str, Any] = {
            "title": ref,
            "number": None,
            "issuer": None,
            "href": None,
            "document_cid": entry.get("document_cid"),
        }
        if ref.startswith("ipfs://"):
            cid = ref.removeprefix("ipfs://").split("/", 1)[0]
            row["href"] = f"/ipfs/{cid}"
            try:
                doc = loads_bounded(services.store.get(cid))
            except Exception as exc:  # noqa: BLE001 - a certificate not in our store is still linked
                logger.info("certificate %s unreadable: %s", cid, exc)
                doc = None
            if isinstance(doc, dict):
                row.update(
                    title=doc.get("title") or ref,
                    number=doc.get("number"),
                    issuer=doc.get("issuer"),
                )
        rows.append(row)
    return rows


def _recall_reason(services: Services, recall: dict[str, Any] | None) -> Any:
    """The recall notice's reason text, read from the store (None if absent or unreadable)."""
    if not recall or not recall.get("reason_cid"):
        return None
    try:
        notice = loads_bounded(services.store.get(recall["reason_cid"]))
    except Exception as exc:  # noqa: BLE001 - a missing document must not break the page
        logger.info("recall notice %s unreadable: %s", recall.get("reason_cid"), exc)
        return None
    return notice.get("reason") if isinstance(notice, dict) else None


# ---------------------------------------------------------------------------- deal page


def deal_view(services: Services, deal_id: int) -> dict[str, Any]:
    """Live state of one deal from the chain: params, totals, tier, time left, leaders."""
    from api.shop import group_commission

    chain = services.chain
    escrow = chain.clients.escrow
    status = escrow.deal_status(deal_id)
    if status == DealStatus.NONE:
        raise ApiError(404, "deal_not_found", f"no deal {deal_id}")
    params = escrow.deal_params(deal_id)
    totals = escrow.deal_totals(deal_id)
    now = int(chain.w3.eth.get_block("latest")["timestamp"])
    tiers = params.price_tiers  # ascending thresholds: the escrow refuses any other order
    leaders: dict[str, dict[str, Any]] = {
        address: {"orders": count} for address, count in deal_leaders(services, deal_id).items()
    }
    unit_price = deal_rules.unit_price_at(tiers, totals.total_quantity)
    for address, row in leaders.items():
        info = escrow.leader_info(deal_id, address)
        row.update(
            address=address,
            quantity=info.quantity,
            received=bool(info.received_at),
            received_at=iso_utc(info.received_at),
            commission=info.commission,
            commission_bps=info.commission_bps or params.commission_bps,
            paid_out=info.paid_out,
        )
        # The chain's commission is 0 until the leader confirms receipt: the table shows what
        # the leader's and handout pages show (an estimate until then, nothing for a lost deal).
        row["commission"], row["commission_estimated"] = group_commission(
            {**row, "receipt": row["received"]},
            status=status.label,
            price=unit_price,
            now=now,
            delivery_deadline=params.delivery_deadline,
        )
    batches = []
    registry = chain.clients.registry
    for batch_id in params.batch_ids:
        info = registry.batch_info(batch_id)
        batches.append(
            {
                "gtin": info.gtin14,
                "lot": info.lot,
                "status": info.status.name.lower(),
                "batch_id": "0x" + batch_id.hex(),
            }
        )
    return {
        "deal_id": deal_id,
        "status": status.label,
        "supplier": params.supplier,
        "tiers": tiers,
        "unit_price": unit_price,
        "top_price": deal_rules.top_price(tiers),
        "next_tier": deal_rules.next_tier(tiers, totals.total_quantity),
        "sold": totals.total_quantity,
        "min_quantity": params.min_total_quantity,
        "max_quantity": params.max_total_quantity,
        "per_buyer_limit": params.per_buyer_limit,
        "progress": min(
            100, round(100 * totals.total_quantity / max(params.min_total_quantity, 1))
        ),
        "join_deadline": iso_utc(params.join_deadline),
        "delivery_deadline": iso_utc(params.delivery_deadline),
        "seconds_left": max(0, params.join_deadline - now),
        "commission_bps": params.commission_bps,
        "platform_fee_bps": params.platform_fee_bps,
        "totals": totals,
        "leaders": list(leaders.values()),
        "batches": batches,
        "settle": settle_check(services, deal_id) if status == DealStatus.SUCCEEDED else None,
    }


# Why a succeeded deal cannot be settled yet: the escrow's own errors (GroupBuyDeals.settle).
SETTLE_WAITS = ("SettlementTooEarly", "ClaimsPending", "BatchBlocked")


def settle_check(services: Services, deal_id: int) -> dict[str, Any]:
    """Whether ``settle(deal_id)`` would go through now, asked of the escrow itself (a dry run:
    the same conditions the keeper waits for, checked by the contract): ``ready``, or the
    escrow's reason (``wait``: its error's name, ``args``: its values, ``at``: when it is due)."""
    escrow = services.chain.clients.escrow
    try:
        services.chain.sender.dry_run(
            sender=escrow.address, to=escrow.address, data=escrow.calldata("settle", deal_id)
        )
    except chain_errors.ContractRevert as exc:
        args = {k: str(v) for k, v in exc.args.items()}
        at = exc.args.get("settleableAt")
        return {
            "ready": False,
            "wait": exc.name if exc.name in SETTLE_WAITS else "other",
            "args": args,
            "at": iso_utc(int(at)) if at is not None else None,
        }
    return {"ready": True, "wait": None, "args": {}, "at": None}


def deal_leaders(services: Services, deal_id: int) -> dict[str, int]:
    """Each leader of a deal with its number of orders: from the index, or (not indexed yet)
    from the deal's ``Joined`` logs since the escrow's deployment block."""
    from api import queries

    try:
        with Session(services.engine) as session:
            detail = queries.deal_detail(session, deal_id)
        return {row["leader"]: len(row["orders"]) for row in detail["leaders"]}
    except NotInIndex:
        pass
    escrow = services.chain.clients.escrow
    start = services.chain.deployment.contracts["GroupBuyEscrow"].block
    counts: dict[str, int] = {}
    for event in escrow.get_events(
        "Joined", from_block=start, argument_filters={"dealId": deal_id}
    ):
        counts[event["args"]["leader"]] = counts.get(event["args"]["leader"], 0) + 1
    return counts


@router.get(
    "/deals/{deal_id}",
    response_class=HTMLResponse,
    responses=error_responses(404, 503, html=True),
    summary="Deal page (HTML)",
)
def deal_page(request: Request, deal_id: DealId) -> Response:
    services = get_services(request)
    try:
        deal = deal_view(services, deal_id)
    except Exception as exc:
        # A browser's page: the error page in its language, not the API's JSON (the node down,
        # or serving a chain that was reset).
        said = as_api_error(exc)
        if said is None:
            raise
        return page_error(request, said)
    try:
        leaders = approved_leaders(services)
    except Exception:  # noqa: BLE001 - the deal is shown even if the leader list is not
        leaders = []
    leader = request.query_params.get("leader")
    named = [deal["supplier"], *(x["address"] for x in deal["leaders"])]
    return render(
        request,
        "deal.html",
        {
            "deal": deal,
            "points": people(services, leaders),
            "names": {p.address: p for p in people(services, named)},
            "product": _deal_product(services, deal_id),
            "leader": leader if leader in leaders else (leaders[0] if leaders else ""),
        },
    )


def _deal_product(services: Services, deal_id: int) -> dict[str, Any] | None:
    """The deal's product (name, picture) from the index; None if not indexed yet."""
    from api import queries
    from api.shop import product_of

    try:
        with Session(services.engine) as session:
            return product_of(session, queries.deal_detail(session, deal_id)["batch_ids"])
    except Exception as exc:  # noqa: BLE001 - the deal page reads the chain; the name is extra
        logger.info("deal %s product unavailable: %s", deal_id, exc)
        return None


# ---------------------------------------------------------------------------- dashboard


def dashboard_data(
    services: Services,
    *,
    supplier: str | None = None,
    leader: str | None = None,
    leaders_after: str | None = None,
) -> dict[str, Any]:
    """The dashboard's figures from the index (``api.queries.dashboard``)."""
    from api import queries

    with Session(services.engine) as session:
        return queries.dashboard(
            session, supplier=supplier, leader=leader, leaders_after=leaders_after
        )


def _parties(services: Services) -> dict[str, list[str]]:
    """The suppliers and leaders the dashboard can show one of: whoever sells or has a group, and
    every approved one (a leader just approved has no order yet: the operator looks for them
    here) — at most :data:`api.queries.MAX_PAGE` of each, distinct in the database: not a row
    per deal and order; any other one is a ``?supplier=`` / ``?leader=`` away."""
    from sqlalchemy import select

    from api.db import models as m
    from api.queries import MAX_PAGE
    from api.queries.common import approved

    def distinct(column: Any, kind: str) -> list[str]:
        query = select(column).distinct().order_by(column).limit(MAX_PAGE)
        chosen = set(session.scalars(query)) | set(approved(session, kind, limit=MAX_PAGE))
        return sorted(chosen)[:MAX_PAGE]

    try:
        with Session(services.engine) as session:
            return {
                "supplier": distinct(m.Deal.supplier, "supplier"),
                "leader": distinct(m.OrderEvent.leader, "leader"),
            }
    except Exception as exc:  # noqa: BLE001 - the page shows the platform's figures
        logger.warning("parties unavailable: %s", exc)
        return {"supplier": [], "leader": []}


def _stuck(services: Services) -> list[dict[str, Any]]:
    """The relayer's and bundler's transactions stuck unmined (``api.queries.stuck``)."""
    import time

    from api.queries.stuck import stuck_transactions

    try:
        return stuck_transactions(services, now=time.time())
    except Exception as exc:  # noqa: BLE001 - the page shows the platform's figures
        logger.warning("stuck transactions unavailable: %s", exc)
        return []


@router.get(
    "/dashboard",
    response_class=HTMLResponse,
    summary="Dashboard page (HTML); ?supplier= or ?leader= for one party's view",
    responses=error_responses(400, html=True),
)
def dashboard_page(
    request: Request,
    supplier: str | None = None,
    leader: str | None = None,
    leaders_after: str | None = None,
) -> Response:
    from api.render import choose_language, messages

    asked = {kind: value for kind, value in (("supplier", supplier), ("leader", leader)) if value}
    try:
        if len(asked) > 1:
            raise ApiError(400, "invalid_request", "give a supplier or a leader, not both")
        chosen = {kind: page_address(value) for kind, value in asked.items()}
        # The leader list's next page: the leaders after this address (the previous page's last,
        # as the index stores it: the cursor compares with stored text, so it is not re-cased).
        after = leaders_after if leaders_after and page_address(leaders_after) else None
    except ApiError as exc:  # a browser's request: the error page, not the API's JSON
        return page_error(request, exc)
    services = get_services(request)
    data = dashboard_data(services, **chosen, leaders_after=after)
    lang = choose_language(request)
    labels = messages()
    parties = _parties(services)
    named = {
        p.address: p
        for p in people(
            services,
            [c["leader"] for c in data.get("commissions", [])]
            + [x["leader"] for x in data["leaders"]]
            + parties["supplier"]
            + parties["leader"]
            + list(chosen.values()),
        )
    }

    def label(key: str) -> str:
        return labels.get(key, {}).get(lang, key)

    kind, address = next(iter(chosen.items()), (None, None))
    return render(
        request,
        "dashboard.html",
        {
            "d": data,
            # The platform's view only: the relayer's and bundler's transactions waiting unmined.
            "stuck": None if chosen else _stuck(services),
            "view": {"kind": kind, "person": named.get(address) if address else None},
            "parties": {k: [named[a] for a in v] for k, v in parties.items()},
            "state_items": [
                (label(f"status_{state}"), count)
                for state, count in sorted(data.get("deals_by_state", {}).items())
            ],
            "commission_items": [
                (named[c["leader"]].label(lang), c["amount"] / 10**6)
                for c in data.get("commissions", [])
            ],
            "leaders": [(named[x["leader"]], x) for x in data["leaders"]],
            "leader_page": {
                "total": data["leaders_total"],
                "more": data["leaders_more"],
                "after": after,
                # The view the pages belong to (a supplier's), kept in the links.
                "view": next((f"{k}={v}&" for k, v in chosen.items()), ""),
            },
            "refund_items": [
                (label(f"reason_{reason}"), r["amount"] / 10**6)
                for reason, r in sorted(data.get("refunds", {}).items())
            ],
            "trend_items": [(x["day"], x["orders"]) for x in data.get("by_day", [])],
        },
    )


# ---------------------------------------------------------------------------- static files


@router.get("/static/{name}", include_in_schema=False)
def static(name: str) -> FileResponse:
    """The pages' stylesheet and script (flat directory: no path can leave it)."""
    path = STATIC_DIR / name
    if "/" in name or name.startswith(".") or not path.is_file():
        raise ApiError(404, "not_found", f"no static file {name!r}")
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media, headers={"Cache-Control": "public, max-age=3600"})


# Browser libraries pinned from npm (package.json, package-lock.json: installed by `make` into
# node_modules/) and served as they were published: no build step, no CDN at run time.
VENDORED = {
    "jsQR.js": "jsqr/dist/jsQR.js",  # QR decoding where BarcodeDetector is missing
    "sha3.min.js": "js-sha3/build/sha3.min.js",  # keccak256 of a cash order's salted name
}


@router.get("/static/vendor/{name}", include_in_schema=False)
def vendored(name: str) -> FileResponse:
    relative = VENDORED.get(name)
    path = REPO_ROOT / "node_modules" / relative if relative else None
    if path is None or not path.is_file():
        raise ApiError(404, "not_found", f"no vendored file {name!r} (run make setup)")
    return FileResponse(
        path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
    )
