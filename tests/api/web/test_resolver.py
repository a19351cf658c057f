"""The GS1 Digital Link resolver on the seeded demo chain: negotiation, linkset, redirects, errors."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from api.demo.catalog import ORANGES, PORK, RICE
from traceability.digital_link import encode_lot
from traceability.epcis.identifiers import gs1_check_digit

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
RICE_PATH = f"/01/{RICE.gtin14}/10/{RICE.lot}"
GS1 = "https://gs1.org/voc/"


def test_browser_gets_the_consumer_page(web_client: TestClient) -> None:
    response = web_client.get(RICE_PATH, headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "五常大米" in response.text and 'id="timeline"' in response.text
    assert 'rel="linkset"' in response.headers["link"]


def test_traceability_link_type_is_the_provenance_json(web_client: TestClient) -> None:
    response = web_client.get(RICE_PATH, params={"linkType": "gs1:traceability"}, headers=HTML)
    assert response.status_code == 200
    body = response.json()
    assert body["batch"]["gtin"] == RICE.gtin14 and body["batch"]["lot"] == RICE.lot
    assert body["batch"]["supplier"]["status"] == "approved"
    steps = [e["biz_step"] for e in body["events"]]
    assert len(steps) >= 5  # commissioning, milling, inspection, shipping, receipts
    times = [e["event_time"] for e in body["events"]]
    assert times == sorted(times)
    assert {e["anchor"]["kind"] for e in body["events"]} == {"single", "merkle", "receipt"}
    # Same JSON as the read API's provenance endpoint.
    assert body == web_client.get(f"/v1/batches/{RICE.gtin14}/{RICE.lot}").json()


def test_non_browser_default_is_json(web_client: TestClient) -> None:
    response = web_client.get(RICE_PATH, headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.json()["batch"]["lot"] == RICE.lot


def test_certification_info_lists_the_certificates(web_client: TestClient) -> None:
    response = web_client.get(RICE_PATH, params={"linkType": "gs1:certificationInfo"})
    assert response.status_code == 200
    body = response.json()
    assert body["batch"]["gtin"] == RICE.gtin14
    infos = [c["certification"].get("certificationInfo") for c in body["certificates"]]
    assert any(isinstance(i, list) and i[0].startswith("ipfs://") for i in infos if i)


def _check_linkset(response_body: dict, base: str) -> None:
    (entry,) = response_body["linkset"]
    assert entry["anchor"] == f"{base}{RICE_PATH}"
    for rel in ("pip", "traceability", "certificationInfo", "defaultLink", "epcis"):
        targets = entry[GS1 + rel]
        assert targets and all(t["href"].startswith("http") for t in targets)
    assert entry[GS1 + "pip"][0]["type"] == "text/html"


def test_linkset_by_link_type_and_by_accept(web_client: TestClient) -> None:
    by_param = web_client.get(RICE_PATH, params={"linkType": "linkset"})
    by_accept = web_client.get(RICE_PATH, headers={"Accept": "application/linkset+json"})
    for response in (by_param, by_accept):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/linkset+json")
        _check_linkset(response.json(), "http://testserver")
        link = response.headers["link"]
        assert 'rel="linkset"' in link and f'rel="{GS1}traceability"' in link
    assert by_param.json() == by_accept.json()


def test_every_linkset_target_resolves(web_client: TestClient) -> None:
    (entry,) = web_client.get(RICE_PATH, params={"linkType": "linkset"}).json()["linkset"]
    hrefs = {t["href"] for key, targets in entry.items() if key != "anchor" for t in targets}
    for href in hrefs:
        response = web_client.get(href.removeprefix("http://testserver"), headers=HTML)
        assert response.status_code == 200, href


def test_gtin13_redirects_to_gtin14_keeping_the_query(web_client: TestClient) -> None:
    gtin13 = RICE.gtin14[1:]
    response = web_client.get(f"/01/{gtin13}/10/{RICE.lot}?linkType=gs1:traceability")
    assert response.status_code == 308
    assert response.headers["location"] == f"{RICE_PATH}?linkType=gs1:traceability"
    followed = web_client.get(response.headers["location"])
    assert followed.json()["batch"]["gtin"] == RICE.gtin14


def test_gtin12_and_gtin8_redirect(web_client: TestClient) -> None:
    upc = "012345678905"  # a valid GTIN-12
    ean8 = "96385074"  # a valid GTIN-8
    for short in (upc, ean8):
        response = web_client.get(f"/01/{short}/10/L1")
        assert response.status_code == 308
        assert response.headers["location"] == f"/01/{short.zfill(14)}/10/L1"


def test_invalid_gtin_is_400_with_a_reason(web_client: TestClient) -> None:
    wrong_check = RICE.gtin14[:-1] + str((int(RICE.gtin14[-1]) + 1) % 10)
    for gtin in (wrong_check, "123", "0690123450001A", "00000000000000", "00000000"):
        response = web_client.get(f"/01/{gtin}/10/{RICE.lot}")
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_gtin"
        assert response.json()["message"]
    zeros = web_client.get(f"/01/{'0' * 14}/10/{RICE.lot}").json()["message"]
    assert "all-zeros GTIN names no product" in zeros


def test_an_all_zeros_gtin_is_refused_before_signing(web_client: TestClient) -> None:
    """Its check digit (0) is right: the one rule (validate_gtin14) refuses it, named."""
    response = web_client.post(
        "/v1/actions/register_batch/prepare",
        json={"from": "0x" + "11" * 20, "gtin14": "0" * 14, "lot": "L1"},
    )
    assert response.status_code == 422, response.text
    assert "all-zeros GTIN names no product" in response.text


def test_invalid_lot_and_link_type_are_400(web_client: TestClient) -> None:
    lot = quote("L" * 21)
    assert web_client.get(f"/01/{RICE.gtin14}/10/{lot}").json()["code"] == "invalid_lot"
    response = web_client.get(RICE_PATH, params={"linkType": "not a type"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_link_type"


def test_unknown_batch_is_404_with_a_reason(web_client: TestClient) -> None:
    response = web_client.get(f"/01/{RICE.gtin14}/10/NO-SUCH-LOT")
    assert response.status_code == 404
    assert response.json()["code"] == "batch_not_found"
    assert "NO-SUCH-LOT" in response.json()["message"]
    page = web_client.get(f"/01/{RICE.gtin14}/10/NO-SUCH-LOT", headers=HTML)
    assert page.status_code == 404 and "NO-SUCH-LOT" in page.text
    assert 'data-code="batch_not_found"' in page.text


def test_a_lot_with_an_escaped_slash_is_one_lot(web_client: TestClient) -> None:
    """ "/" is a GS1 lot character, escaped in the link (%2F): the router must not read it as a
    path separator (the link of such a lot was a bare "Not Found")."""
    lot = "NO/SUCH?LOT"
    for path in (
        f"/01/{RICE.gtin14}/10/{encode_lot(lot)}",
        f"/v1/batches/{RICE.gtin14}/{quote(lot, safe='')}",
    ):
        response = web_client.get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "batch_not_found" and lot in response.json()["message"]
    short = web_client.get(f"/01/{RICE.gtin14[1:]}/10/{encode_lot(lot)}?linkType=gs1:pip")
    assert short.status_code == 308
    assert short.headers["location"] == f"/01/{RICE.gtin14}/10/NO%2FSUCH%3FLOT?linkType=gs1:pip"


def test_pages_link_a_batch_by_its_escaped_path(web_client: TestClient) -> None:
    """The pages' batch links (``batch_path``) reach the resolver with the lot whole."""
    from api.render import TEMPLATES_DIR, batch_path

    lot = "NO/SUCH?LOT"
    response = web_client.get(batch_path(RICE.gtin14, lot))
    assert response.json()["code"] == "batch_not_found" and lot in response.json()["message"]
    assert web_client.get(batch_path(RICE.gtin14, RICE.lot)).status_code == 200
    for template in TEMPLATES_DIR.glob("*.html"):  # no link spelled by hand, lot unescaped
        assert "/10/{{" not in template.read_text(), template.name


def test_a_serial_link_resolves_to_its_batch(web_client: TestClient) -> None:
    """AI 21 after the lot (a serialised item's QR): serials are not tracked, the batch answers."""
    response = web_client.get(f"{RICE_PATH}/21/{encode_lot('SN/0001')}?linkType=gs1:pip")
    assert response.status_code == 307
    assert response.headers["location"] == f"{RICE_PATH}?linkType=gs1:pip"
    bad = web_client.get(f"{RICE_PATH}/21/{'S' * 21}")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_serial"
    other = web_client.get(f"{RICE_PATH}/99/X")
    assert other.status_code == 404 and other.json()["code"] == "not_a_batch_link"


def test_unserved_link_type_is_404(web_client: TestClient) -> None:
    response = web_client.get(RICE_PATH, params={"linkType": "gs1:recipeInfo"})
    assert response.status_code == 404
    assert response.json()["code"] == "link_type_not_available"


def test_recalled_and_breached_batches_say_so(web_client: TestClient) -> None:
    oranges = web_client.get(
        f"/01/{ORANGES.gtin14}/10/{ORANGES.lot}", params={"linkType": "gs1:traceability"}
    ).json()
    assert oranges["batch"]["status"] == "recalled" and oranges["recall"]["reason_cid"]
    pork = web_client.get(
        f"/01/{PORK.gtin14}/10/{PORK.lot}", params={"linkType": "gs1:traceability"}
    ).json()
    assert pork["cold_chain"]["compliant"] is False
    assert [b["value"] for b in pork["cold_chain"]["breaches"]] == [6.2]


@st.composite
def gtins(draw: st.DrawFn, length: int) -> str:
    body = draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    assume(body.strip("0"))  # all zeros is no GTIN (refused, not redirected)
    return body + gs1_check_digit(body)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(gtin=st.one_of(gtins(8), gtins(12), gtins(13)))
def test_any_short_gtin_redirects_to_its_gtin14(web_client: TestClient, gtin: str) -> None:
    response = web_client.get(f"/01/{gtin}/10/A1")
    assert response.status_code == 308
    assert response.headers["location"] == f"/01/{gtin.zfill(14)}/10/A1"


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    gtin=st.text(st.characters(codec="utf-8", exclude_characters="/?#%"), min_size=1, max_size=20)
)
def test_malformed_gtin_never_500(web_client: TestClient, gtin: str) -> None:
    response = web_client.get(f"/01/{quote(gtin, safe='')}/10/A1")
    assert response.status_code in (308, 400, 404)
    if response.status_code == 400:
        assert response.json()["code"] == "invalid_gtin"
