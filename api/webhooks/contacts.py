"""An address's consent to be reached by phone or WeChat, and the contact itself.

Given and withdrawn by the address only (a Sign-In with Ethereum session of that address: the
routes' ``SignedInDep``); withdrawing deletes the row, so nothing of it is left to send. Sealed
at rest with the document key (AES-256-GCM, the row's address as associated data). Read by the
webhook outbox at send time: a payload carries a contact only while its owner consents.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from api.private import crypto
from api.webhooks.models import NoticeContact

PHONE = re.compile(r"^\+?[0-9]{6,20}$")
OPENID = re.compile(r"^[A-Za-z0-9_-]{10,64}$")


class ContactError(ValueError):
    """A contact that is not a phone number / openid, or neither was given."""


@dataclass(frozen=True)
class Contact:
    phone: str | None
    wechat_openid: str | None
    consented_at: int

    def to_json(self) -> dict[str, object]:
        return {
            "phone": self.phone,
            "wechat_openid": self.wechat_openid,
            "consented_at": self.consented_at,
        }


def checked(phone: str | None, wechat_openid: str | None) -> tuple[str | None, str | None]:
    phone = (phone or "").replace(" ", "").replace("-", "") or None
    wechat_openid = (wechat_openid or "").strip() or None
    if phone is None and wechat_openid is None:
        raise ContactError("give a phone number or a WeChat openid (or withdraw consent)")
    if phone is not None and not PHONE.match(phone):
        raise ContactError(f"not a phone number: {phone!r} (digits, an optional leading +)")
    if wechat_openid is not None and not OPENID.match(wechat_openid):
        raise ContactError(f"not a WeChat openid: {wechat_openid!r}")
    return phone, wechat_openid


def give(
    engine: Engine,
    key: bytes,
    address: str,
    *,
    phone: str | None,
    wechat_openid: str | None,
    now: int,
) -> Contact:
    """Record (or replace) ``address``'s contact with its consent, as of ``now``."""
    phone, wechat_openid = checked(phone, wechat_openid)
    plain = json.dumps({"phone": phone, "wechat_openid": wechat_openid}).encode()
    with Session(engine) as session:
        row = session.get(NoticeContact, address) or NoticeContact(address=address)
        row.sealed = crypto.seal_record(key, plain, address)
        row.key_id = crypto.key_id(key)
        row.consented_at = now
        session.merge(row)
        session.commit()
    return Contact(phone, wechat_openid, now)


def withdraw(engine: Engine, address: str) -> bool:
    """Delete ``address``'s contact; True if there was one."""
    with Session(engine) as session:
        gone = session.execute(delete(NoticeContact).where(NoticeContact.address == address))
        session.commit()
    return bool(gone.rowcount)  # type: ignore[attr-defined]


def _open(key: bytes, row: NoticeContact) -> Contact:
    data = json.loads(crypto.open_record(key, row.sealed, row.address))
    return Contact(data.get("phone"), data.get("wechat_openid"), row.consented_at)


def get(session: Session, key: bytes, address: str) -> Contact | None:
    row = session.get(NoticeContact, address)
    return None if row is None else _open(key, row)
