"""Hypothesis strategies for EPCIS 2.0 JSON events: every member of the CBV canonical order,
the five event types, sensor elements, ILMD, certificationInfo, source/destination lists and
user extensions at every nesting level, with identifiers in every EPC URI scheme and as
GS1 Digital Links."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from traceability.epcis.identifiers import gs1_check_digit

CTX = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
# Two user namespaces, one ending with "/" (the generator moves such extensions next to their
# parent) and one with "#" (they stay in the remainder), and cbvmda for ILMD.
NAMESPACES = {"ex": "https://ns.example.com/epcis/", "ext": "http://example.org/ext#"}
CONTEXT: list[Any] = [CTX, NAMESPACES]

_AI82 = string.ascii_letters + string.digits + "!\"%&'()*+,-./:;<=>?_"
_EPC_SAFE = string.ascii_letters + string.digits + "-_.*!'()+,:;="

digits = st.text("0123456789", min_size=1, max_size=1)


def _num(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


@st.composite
def company_split(draw: st.DrawFn, total: int) -> tuple[str, str]:
    """A company prefix of 6..12 digits and the rest of a ``total``-digit key."""
    cp_len = draw(st.integers(6, min(12, total - 1) if total > 6 else 6))
    return draw(_num(cp_len)), draw(_num(total - cp_len))


serial = st.text(_EPC_SAFE, min_size=1, max_size=20)


@st.composite
def epc_uri(draw: st.DrawFn) -> str:
    scheme = draw(
        st.sampled_from(
            ["sgtin", "lgtin", "sscc", "sgln", "pgln", "grai", "giai", "gsrn", "gdti", "idpat"]
        )
    )
    if scheme in ("sgtin", "lgtin", "idpat"):
        cp, ref = draw(company_split(13))
        tail = "*" if scheme == "idpat" else draw(serial)
        kind = {"sgtin": "id:sgtin", "lgtin": "class:lgtin", "idpat": "idpat:sgtin"}[scheme]
        return f"urn:epc:{kind}:{cp}.{ref}.{tail}"
    if scheme in ("sscc", "gsrn"):
        cp, ref = draw(company_split(17))
        return f"urn:epc:id:{scheme}:{cp}.{ref}"
    if scheme in ("sgln", "grai", "gdti"):
        cp, ref = draw(company_split(12))
        ext = draw(st.sampled_from(["0", "987"]) | serial) if scheme == "sgln" else draw(serial)
        return f"urn:epc:id:{scheme}:{cp}.{ref}.{ext}"
    if scheme == "pgln":
        cp, ref = draw(company_split(12))
        return f"urn:epc:id:pgln:{cp}.{ref}"
    cp = draw(_num(draw(st.integers(6, 12))))
    return f"urn:epc:id:giai:{cp}.{draw(serial)}"


@st.composite
def gtin(draw: st.DrawFn) -> str:
    body = draw(_num(13).filter(lambda digits: digits.strip("0")))  # all zeros names no product
    return body + gs1_check_digit(body)


@st.composite
def digital_link(draw: st.DrawFn) -> str:
    host = draw(st.sampled_from(["https://id.gs1.org", "https://example.com/shop", "http://x.cn"]))
    key = draw(st.sampled_from(["01", "gtin", "414", "417", "00", "8004"]))
    if key in ("01", "gtin"):
        path = f"/{key}/{draw(gtin())}"
        path += draw(st.sampled_from(["", "/10/", "/21/", "/lot/", "/ser/"]))
        if not path.endswith(("/", draw(gtin()))) or path.endswith("/"):
            path += (
                draw(
                    st.text(
                        _AI82.replace("/", "").replace("%", "").replace("?", "").replace("#", ""),
                        min_size=1,
                        max_size=8,
                    )
                )
                if path.endswith("/")
                else ""
            )
    elif key in ("414", "417"):
        body = draw(_num(12))
        path = f"/{key}/{body}{gs1_check_digit(body)}"
    elif key == "00":
        body = draw(_num(17))
        path = f"/00/{body}{gs1_check_digit(body)}"
    else:
        path = f"/8004/{draw(_num(7))}{draw(serial.filter(lambda s: '/' not in s))}"
    query = draw(st.sampled_from(["", "?linkType=all", "?17=201231"]))
    return host + path + query


def _finite_or_not_a_number(text: str) -> bool:
    # "inf"/"Infinity" make the generator raise (a separate test covers it).
    try:
        return abs(float(text)) != float("inf")
    except ValueError:
        return True


plain_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12
).filter(_finite_or_not_a_number)
vocab_term = st.sampled_from(
    ["shipping", "receiving", "in_transit", "po", "Temperature", "owning_party"]
)
identifier = st.one_of(epc_uri(), digital_link())
value_text = st.one_of(
    identifier,
    plain_text,
    vocab_term,
    st.sampled_from(
        [
            "1.0",
            "0.3430",
            "-2",
            "1e-7",
            "007",
            " 12 ",
            "abc.def",
            "urn:epcglobal:cbv:bizstep:shipping",
        ]
    ),
)
json_number = st.one_of(
    st.integers(-10_000, 10_000), st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: round(f, 4))
)


@st.composite
def timestamp(draw: st.DrawFn) -> str:
    moment = draw(
        st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31), timezones=st.just(UTC))
    )
    minutes = draw(st.sampled_from([0, 60, 480, -300, 330, 345]))
    local = moment.astimezone(timezone(timedelta(minutes=minutes)))
    # Whole, milli- and micro-second precision, but never a fraction the generator cannot round
    # (.9995 and up: a separate test covers it).
    precision = draw(st.sampled_from(["seconds", "milliseconds", "microseconds"]))
    if precision == "microseconds" and local.microsecond >= 999_500:
        precision = "milliseconds"
    text = local.isoformat(timespec=precision)
    return text.replace("+00:00", "Z") if draw(st.booleans()) else text


def offset_of(ts: str) -> str:
    return "+00:00" if ts.endswith("Z") else ts[-6:]


ext_key = st.sampled_from(["ex", "ext"]).flatmap(
    lambda p: st.sampled_from(["note", "grade", "pickupTime", "codeList", "score"]).map(
        lambda n: f"{p}:{n}"
    )
)


def extension_value(depth: int = 2) -> st.SearchStrategy[Any]:
    leaf = st.one_of(value_text, json_number, st.booleans())
    if depth == 0:
        return leaf
    return st.one_of(
        leaf,
        st.lists(leaf, min_size=1, max_size=3),
        st.dictionaries(ext_key, extension_value(depth - 1), min_size=1, max_size=3),
    )


extensions = st.dictionaries(ext_key, extension_value(), max_size=3)


def quantity_element() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"epcClass": identifier},
        optional={"quantity": json_number.map(abs), "uom": st.sampled_from(["KGM", "EA", "LTR"])},
    )


def typed_list(item: str) -> st.SearchStrategy[list[dict[str, Any]]]:
    types = {
        "bizTransaction": ["po", "inv", "desadv", "urn:epcglobal:cbv:btt:po"],
        "source": ["owning_party", "possessing_party", "location"],
        "destination": ["owning_party", "possessing_party", "location"],
    }[item]

    @st.composite
    def one(draw: st.DrawFn) -> dict[str, Any]:
        entry = {
            "type": draw(st.sampled_from(types)),
            item: draw(
                identifier | plain_text.map(lambda t: "urn:tuanchain:" + t.replace(" ", ""))
            ),
        }
        if draw(st.booleans()):  # members in either order: the generator keeps their order
            entry = dict(reversed(list(entry.items())))
        return entry

    return st.lists(one(), min_size=1, max_size=3)


def place() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(lambda i, e: {"id": i, **e}, identifier, extensions)


sensor_report = st.builds(
    lambda base, extra, e: {**base, **extra, **e},
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from(["Temperature", "gs1:Humidity", "AbsoluteHumidity"]),
            "exception": st.sampled_from(["ALARM_CONDITION", "ERROR_CONDITION"]),
            "deviceID": identifier,
            "deviceMetadata": identifier,
            "rawData": st.just("https://example.com/raw/1"),
            "dataProcessingMethod": st.just("https://example.com/method"),
            "time": timestamp(),
            "microorganism": st.just("https://www.ncbi.nlm.nih.gov/taxonomy/1126011"),
            "chemicalSubstance": st.just(
                "https://identifiers.org/inchikey:CZMRCDWAGMRECN-UGDNZRGBSA-N"
            ),
            "value": json_number,
            "component": st.sampled_from(["x", "y", "easting"]),
            "stringValue": plain_text,
            "booleanValue": st.booleans(),
            "hexBinaryValue": st.just("f0f0"),
            "uriValue": st.just("https://example.com/u"),
            "minValue": json_number,
            "maxValue": json_number,
            "meanValue": json_number,
            "sDev": json_number,
            "percRank": json_number,
            "percValue": json_number,
            "uom": st.sampled_from(["CEL", "A93", "KGM"]),
            "coordinateReferenceSystem": st.just("http://www.opengis.net/def/crs/EPSG/0/4326"),
        },
    ),
    st.just({}),
    extensions,
)
sensor_metadata = st.builds(
    lambda base, e: {**base, **e},
    st.fixed_dictionaries(
        {},
        optional={
            "time": timestamp(),
            "startTime": timestamp(),
            "endTime": timestamp(),
            "deviceID": identifier,
            "deviceMetadata": identifier,
            "rawData": st.just("https://example.com/raw/2"),
            "dataProcessingMethod": st.just("https://example.com/method/2"),
            "bizRules": st.just("https://example.com/rules"),
        },
    ),
    extensions,
)
sensor_element = st.builds(
    lambda meta, reports, e: {
        **({"sensorMetadata": meta} if meta else {}),
        "sensorReport": reports,
        **e,
    },
    sensor_metadata,
    st.lists(sensor_report, min_size=1, max_size=3),
    extensions,
)
ilmd = st.dictionaries(
    st.sampled_from(
        [
            "cbvmda:countryOfOrigin",
            "cbvmda:harvestStartDate",
            "cbvmda:lotNumber",
            "ex:producer",
            "ext:grade",
        ]
    ),
    extension_value(1),
    min_size=1,
    max_size=4,
)
epcs = st.lists(identifier, min_size=1, max_size=3)
quantities = st.lists(quantity_element(), min_size=1, max_size=3)

_COMMON = {
    "certificationInfo": st.one_of(
        st.just("ipfs://bafkreicert"),
        st.lists(st.sampled_from(["ipfs://a", "https://c.example/1"]), min_size=1, max_size=2),
    ),
    "bizStep": st.sampled_from(
        [
            "shipping",
            "receiving",
            "commissioning",
            "cbv:BizStep-packing",
            "urn:epcglobal:cbv:bizstep:inspecting",
            "https://ref.gs1.org/cbv/BizStep-holding",
        ]
    ),
    "disposition": st.sampled_from(
        ["in_transit", "active", "recalled", "urn:epcglobal:cbv:disp:in_progress"]
    ),
    "persistentDisposition": st.fixed_dictionaries(
        {},
        optional={
            "set": st.lists(
                st.sampled_from(["completeness_verified", "active"]), min_size=1, max_size=2
            ),
            "unset": st.lists(st.sampled_from(["completeness_inferred"]), min_size=1, max_size=1),
        },
    ).filter(bool),
    "readPoint": place(),
    "bizLocation": place(),
    "bizTransactionList": typed_list("bizTransaction"),
    "sourceList": typed_list("source"),
    "destinationList": typed_list("destination"),
    "sensorElementList": st.lists(sensor_element, min_size=1, max_size=3),
    "eventID": st.just("ni:///sha-256;00?ver=CBV2.0"),
    "recordTime": timestamp(),
}
_BY_TYPE: dict[str, dict[str, Any]] = {
    "ObjectEvent": {"epcList": epcs, "quantityList": quantities, "ilmd": ilmd},
    "AggregationEvent": {
        "parentID": identifier,
        "childEPCs": epcs,
        "childQuantityList": quantities,
    },
    "AssociationEvent": {
        "parentID": identifier,
        "childEPCs": epcs,
        "childQuantityList": quantities,
    },
    "TransactionEvent": {"parentID": identifier, "epcList": epcs, "quantityList": quantities},
    "TransformationEvent": {
        "inputEPCList": epcs,
        "inputQuantityList": quantities,
        "outputEPCList": epcs,
        "outputQuantityList": quantities,
        "transformationID": identifier,
        "ilmd": ilmd,
    },
}


@st.composite
def event(draw: st.DrawFn) -> dict[str, Any]:
    """One EPCIS 2.0 event of any type, with any subset of its members and extensions."""
    kind = draw(st.sampled_from(sorted(_BY_TYPE)))
    when = draw(timestamp())
    base: dict[str, Any] = {"type": kind, "eventTime": when, "eventTimeZoneOffset": offset_of(when)}
    if kind != "TransformationEvent":
        base["action"] = draw(st.sampled_from(["ADD", "OBSERVE", "DELETE"]))
    members = draw(st.fixed_dictionaries({}, optional={**_COMMON, **_BY_TYPE[kind]}))
    ext = draw(extensions)
    items = list({**base, **members, **ext}.items())
    order = draw(st.permutations(range(len(items))))
    return dict(items[i] for i in order)


def document(*events: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return {
        "@context": CONTEXT if context is None else context,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2025-01-01T00:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }
