"""The demo's JSON documents: credentials, certificates, a recall notice, claim evidence.

Pure builders (the seed stores them as canonical JSON): the same arguments give the same
document, hence the same CID on every run.
"""

from __future__ import annotations

from typing import Any

from api.demo import catalog as c
from api.demo import trails
from api.demo.catalog import Actor, DemoClock, Product


def lot_of(product: Product) -> dict[str, str]:
    """The lot a document is about, as GS1 keys."""
    return {"gtin": product.gtin14, "lot": product.lot}


def profile(actor: Actor, issued: str) -> dict[str, Any]:
    """``actor``'s public profile (name, place), anchored when it applies; public in IPFS."""
    return {
        "type": "tuanchain:PartyProfile",
        "role": actor.role,
        "name": {"zh": actor.name_zh, "en": actor.name_en},
        "gln": actor.gln,
        "place": {"zh": actor.place_zh, "en": actor.place_en},
        "since": issued,
    }


def credential(actor: Actor, issued: str) -> dict[str, Any]:
    """An onboarding credential: private (the private document store keeps it; only its SHA-256
    is on chain). Only made when ``actor`` applies, so its date is free."""
    kind = {"supplier": "供应商资质 supplier licence", "leader": "团长审核 leader vetting"}
    return {
        "type": "tuanchain:Credential",
        "kind": kind.get(actor.role, actor.role),
        "holder": {
            "zh": actor.name_zh,
            "en": actor.name_en,
            "gln": actor.gln,
            "address": actor.address,
        },
        "place": {"zh": actor.place_zh, "en": actor.place_en},
        "issued": issued,
        "issuer": "tuanchain platform (demo)",
    }


def certificate(product: Product) -> dict[str, Any]:
    """``product``'s certificate, issued by the demo inspection centre."""
    cert = product.certificate
    return {
        "type": "tuanchain:Certificate",
        "title": {"zh": cert.title_zh, "en": cert.title_en},
        "number": cert.number,
        "subject": lot_of(product),
        "issuer": {
            "zh": "国家食品质量检验检测中心（演示）",
            "en": "National food inspection centre (demo)",
            "gln": c.INSPECTION_GLN,
        },
        "result": "合格 pass",
    }


def recall_notice(clock: DemoClock) -> dict[str, Any]:
    """Why the oranges are recalled, dated on the recall event's day."""
    p = c.ORANGES
    return {
        "type": "tuanchain:RecallNotice",
        "subject": lot_of(p),
        "reason": {
            "zh": "抽检发现农药残留（多菌灵）超标，主动召回。",
            "en": "Spot check found carbendazim residue above the limit; voluntary recall.",
        },
        "date": clock.at(p, trails.ORANGE_RECALL_DAY, 0).date().isoformat(),
    }


def claim_evidence(deal_id: int) -> dict[str, Any]:
    return {
        "type": "tuanchain:QualityClaimEvidence",
        "deal": deal_id,
        "text": {
            "zh": "收到的一份猪肉有异味，包装漏气。",
            "en": "One pack smelled off; the packaging leaked.",
        },
        "photos": [],
    }
