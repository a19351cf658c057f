"""People and places by name: who an address is, and where a leader's pickup point is.

One home for "show a name, not hex" (every page uses it; operator and supplier pages too):

1. a party's public profile (``tuanchain:PartyProfile``: ``name`` {zh, en}, ``gln`` and ``place``
   {zh, en}; an older ``tuanchain:Credential`` with ``holder``), found through the index (the
   CID of the party's latest application or profile update) and read from the document store:
   what a real leader or supplier published (their credentials are private and never read here).
   Only while the party is approved for that role: a pending, rejected or revoked applicant's
   profile is a claim nobody checked (anyone can apply as "Auntie Wang"), kept as
   :attr:`Person.declared` for the review queue and never shown as the party's name;
2. else the demo catalog (:mod:`api.demo.catalog`: anvil's public development accounts, so
   these names only ever match a local demo chain's accounts, e.g. the demo consumers);
3. else the short address.

The address always stays one tap away (pages show the name and link/title the address).
Credential documents are immutable (content-addressed), so they are cached by CID forever;
which CID a party has is looked up per request (a new application changes it).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.db import models as m
from api.render import pick, short
from traceability.ipfs import DocumentStore
from traceability.safe_json import loads_bounded

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Person:
    """An account as people know it: a name, and for a leader or supplier a place and GLN."""

    address: str
    name: dict[str, str] | None = None  # {"zh": .., "en": ..}
    place: dict[str, str] | None = None  # a leader's pickup point, a supplier's site
    gln: str = ""
    role: str = ""  # supplier | leader | consumer | carrier | "" (unknown)
    # The profile a party not (or no longer) approved declared: unverified, for reviewers only.
    declared: Person | None = None

    def label(self, lang: str) -> str:
        """The name in ``lang``, else the short address."""
        return pick(self.name, lang) if self.name else short(self.address)

    def place_label(self, lang: str) -> str:
        """The pickup point (or site) in ``lang``, else the GLN, else the person's label."""
        if self.place:
            return pick(self.place, lang)
        return f"GLN {self.gln}" if self.gln else self.label(lang)

    def keeper_label(self, lang: str) -> str:
        """Who keeps the pickup point, to show next to :meth:`place_label`; "" when it would only
        repeat it (no public profile: the short address once, not twice)."""
        person = self.label(lang)
        return "" if person == self.place_label(lang) else person

    def to_json(self, lang: str) -> dict[str, Any]:
        return {
            "address": self.address,
            "name": self.label(lang),
            "place": self.place_label(lang),
            "gln": self.gln or None,
            "role": self.role or None,
        }


@cache
def _catalog() -> dict[str, Person]:
    from api.demo.catalog import demo_accounts

    return {
        a.address: Person(
            a.address,
            {"zh": a.name_zh, "en": a.name_en},
            {"zh": a.place_zh, "en": a.place_en} if a.place_zh else None,
            a.gln,
            a.role,
        )
        for a in demo_accounts()
    }


_profiles: dict[str, dict[str, Any] | None] = {}


def _profile(store: DocumentStore, cid: str) -> dict[str, Any] | None:
    """A party's public profile document by CID (cached: a CID's bytes never change); None if
    unreadable. (Credentials are private: never read here.)"""
    if cid not in _profiles:
        try:
            doc = loads_bounded(store.get(cid))
        except Exception as exc:  # noqa: BLE001 - a missing document only costs the name
            logger.info("profile %s unreadable: %s", cid, exc)
            return None  # not cached: the store may have it later
        _profiles[cid] = doc if isinstance(doc, dict) else None
    return _profiles[cid]


class Directory:
    """Names for the addresses of one page (one index query for all of them)."""

    def __init__(self, session: Session, store: DocumentStore) -> None:
        self.session = session
        self.store = store
        self._people: dict[str, Person] = {}

    def load(self, addresses: list[str] | set[str]) -> None:
        """Look up many addresses at once (parties' latest public profiles from the index)."""
        wanted = [a for a in set(addresses) if a and a not in self._people]
        if not wanted:
            return
        rows = self.session.execute(
            select(
                m.PartyEvent.account,
                m.PartyEvent.kind,
                m.PartyEvent.action,
                m.PartyEvent.profile_cid,
            )
            .where(m.PartyEvent.account.in_(wanted))
            .order_by(m.PartyEvent.block_number, m.PartyEvent.log_index)
        ).all()
        applied: dict[str, tuple[str, str | None]] = {}
        status: dict[tuple[str, str], str] = {}  # (account, kind) -> its latest review action
        for account, kind, action, cid in rows:  # the latest wins
            if action in ("applied", "profile_updated"):
                applied[account] = (kind, cid)
            if action != "profile_updated":
                status[account, kind] = action
        for address in wanted:
            found = applied.get(address)
            is_approved = found is not None and status.get((address, found[0])) == "approved"
            self._people[address] = self._resolve(address, found, approved=is_approved)

    def _resolve(
        self, address: str, applied: tuple[str, str | None] | None, *, approved: bool
    ) -> Person:
        fallback = _catalog().get(address)
        declared = self._declared(address, applied)
        if declared is not None and approved:
            return declared
        if fallback is not None:
            return dataclasses.replace(fallback, declared=declared)
        return Person(address, role=applied[0] if applied else "", declared=declared)

    def _declared(self, address: str, applied: tuple[str, str | None] | None) -> Person | None:
        """The party as its latest public profile declares itself (checked or not)."""
        if not (applied and applied[1]):
            return None
        doc = _profile(self.store, applied[1])
        # A profile names the party (``name``); an older credential document its ``holder``.
        holder = (doc or {}).get("name") or (doc or {}).get("holder")
        if not (isinstance(holder, dict) and (holder.get("zh") or holder.get("en"))):
            return None
        place = doc.get("place") if isinstance(doc.get("place"), dict) else None  # type: ignore[union-attr]
        return Person(
            address,
            {k: str(holder[k]) for k in ("zh", "en") if holder.get(k)},
            place,
            str((doc or {}).get("gln") or holder.get("gln") or ""),
            applied[0],
        )

    def get(self, address: str) -> Person:
        if address not in self._people:
            self.load([address])
        return self._people[address]
