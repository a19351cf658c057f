"""Product photos come from this service only: an ipfs:// document it serves at /ipfs/, never
another host (whose server would learn who opens which page). One rule (api.photos), refused at
input (master data, a batch's lot data), dropped on the pages, and enforced by the pages'
Content-Security-Policy (img-src without any other host)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from api.db import models as m
from api.photos import photo_path
from api.render import CONTENT_SECURITY_POLICY
from api.shop import _product
from api.supplier.errors import InputError
from api.supplier.masterdata import product_document

CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
ELSEWHERE = "https://photos.example.net/rice.png?shopper=1"


def test_the_policy_loads_pictures_from_this_service_only(web_client: TestClient) -> None:
    img_src = next(
        d.split()[1:] for d in CONTENT_SECURITY_POLICY.split(";") if d.split()[0] == "img-src"
    )
    assert img_src == ["'self'", "data:", "blob:"]  # data: wallet icons, blob: private photos
    page = web_client.get("/", headers={"Accept": "text/html"})
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    ("image", "shown"),
    [
        (f"ipfs://{CID}", f"/ipfs/{CID}"),
        (ELSEWHERE, None),  # was shown, from that host
        ("http://photos.example.net/a.png", None),
        ("//photos.example.net/a.png", None),
        ("ipfs://../../v1/admin", None),  # no path of this service but a document
        ("ipfs://" + CID + "/../x", None),
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_a_lot_photo_is_shown_only_when_it_is_a_document_here(image: Any, shown: str) -> None:
    batch = m.Batch(
        batch_id="0x" + "01" * 32,
        gtin="06901234500011",
        lot="L1",
        supplier="0x" + "11" * 20,
        metadata_json={"product": {"zh": "米", "en": "Rice"}, "image": image},
    )
    assert _product(batch)["image"] == shown


@given(st.text(max_size=120))
def test_a_photo_path_is_always_a_document_of_this_service(text: str) -> None:
    path = photo_path(text)
    assert path is None or (path.startswith("/ipfs/") and path[6:].isalnum())


def test_master_data_and_lot_data_refuse_a_photo_from_elsewhere(web_client: TestClient) -> None:
    with pytest.raises(InputError, match="ipfs://"):
        product_document(gtin="06901234500011", name_zh="米", name_en="Rice", image=ELSEWHERE)
    response = web_client.post(
        "/v1/actions/register_batch/prepare",
        json={
            "from": "0x" + "11" * 20,
            "gtin14": "06901234500011",
            "lot": "L9",
            "metadata": {"product": {"zh": "米", "en": "Rice"}, "image": ELSEWHERE},
        },
    )
    assert response.status_code == 422, response.text
    assert "image must be an ipfs:// document stored here" in response.text
