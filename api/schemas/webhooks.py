"""Request and response models of the webhooks and consent routes (``api/routes/webhooks.py``)."""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, Field

from api.routes.deps import DB_INT_MAX
from api.webhooks.models import DeliveryStatus


class EndpointIn(BaseModel):
    url: AnyHttpUrl = Field(
        description="the gateway's URL, POSTed to: https on a public address (plain http and "
        "loopback / private addresses only on a local chain, or where the settings allow them)"
    )
    description: str = Field(default="", max_length=200)
    since: int | None = Field(
        default=None,
        ge=0,
        le=DB_INT_MAX,
        description="deliver notices from this chain time (unix seconds); default: now",
    )


class EndpointOut(BaseModel):
    id: int
    url: str
    description: str
    created_by: str
    created_at: int
    since: int
    disabled: bool
    deliveries: dict[str, int] = Field(description="rows per state: pending, delivered, dead")


class EndpointCreated(EndpointOut):
    secret: str = Field(description="whsec_…: verify webhook-signature with it (shown once)")


class DeliveryOut(BaseModel):
    id: int
    message_id: str = Field(description="the webhook-id (the same on every attempt)")
    notice_id: str
    recipient: str
    kind: str
    status: DeliveryStatus
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: int
    delivered_at: int | None


class RetryIn(BaseModel):
    delivery_id: int | None = Field(
        default=None, ge=1, le=DB_INT_MAX, description="one dead letter; default: all of them"
    )


class Retried(BaseModel):
    retried: int


class ContactIn(BaseModel):
    phone: str | None = Field(default=None, max_length=32, examples=["+8613800138000"])
    wechat_openid: str | None = Field(default=None, max_length=64)
    consent: Literal[True] = Field(
        description="true: I agree that my notices are sent to this contact through the "
        "platform's SMS / WeChat gateway (withdraw with DELETE)"
    )


class ContactOut(BaseModel):
    address: str
    phone: str | None
    wechat_openid: str | None
    consented_at: int | None = Field(description="unix seconds; null: no consent given")
