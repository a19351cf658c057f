"""Server-side HTML rendering of the pages: Jinja2 templates, language choice, labels.

No build step: templates in ``api/templates``, one stylesheet and the shared client script
(``api/static/wallet.js``: wallets, signing steps, relay) in ``api/static``. Its words are the
``js_*`` keys of ``i18n.json``, handed to every page in the page's language.
Text is Chinese or English, chosen by ``?lang=zh|en``, else the ``Accept-Language`` header,
else Chinese (the consumers of a 社区团购 community).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from api.bundler.actions import PASSKEY_ACTIONS
from api.photos import photo_path
from api.render.charts import bar_chart, donut_chart, temperature_plot
from api.timefmt import zone_label
from traceability.epcis.identifiers import dl_encode

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
LANGUAGES = ("zh", "en")


# A language's words for one key: a sentence, or one per plural category when it counts
# something (``{n}``, a count, always): ``{"one": "{n} unit", "other": "{n} units"}``.
Words = str | dict[str, str]


@cache
def messages() -> dict[str, dict[str, Words]]:
    """``{key: {"zh": ..., "en": ...}}`` from ``templates/i18n.json``."""
    return json.loads((TEMPLATES_DIR / "i18n.json").read_text(encoding="utf-8"))


def plural_category(lang: str, n: object) -> str:
    """The CLDR plural category of the count ``n`` in ``lang``, for whole numbers: English
    says "one" for 1 and "other" for any other count (0 units, 2 units); Chinese has no plural
    ("other" always). Its twin is ``Intl.PluralRules`` in ``api/static/wallet.js`` (``fill``)."""
    try:
        count = int(str(n))
    except ValueError:
        return "other"
    return "one" if lang == "en" and count == 1 else "other"


def fill(template: Words, values: dict[str, str], lang: str | None = None) -> str:
    """An i18n sentence with its ``{name}`` placeholders filled (the JS side: ``Tuan.fill``);
    words with plural forms give ``lang``'s form for the count ``values["n"]``."""
    if isinstance(template, dict):
        if lang is None:
            raise ValueError("words with plural forms need the language they are in")
        template = template.get(plural_category(lang, values.get("n", "")), template["other"])
    for name, value in values.items():
        template = template.replace("{" + name + "}", value)
    return template


def words(key: str, lang: str, values: dict[str, Any] | None = None) -> str:
    """The words of i18n ``key`` in ``lang`` with ``values`` filled: the one way a page, a
    notice or a webhook says a count (``words("js_units", "en", {"n": 1})``: "1 unit").
    An unknown key is the key itself."""
    entry = messages().get(key)
    text = entry.get(lang, key) if entry else key
    return fill(text, {name: str(value) for name, value in (values or {}).items()}, lang)


def words_for_script(key: str, lang: str, values: dict[str, Any]) -> Words:
    """Words whose count only the page's script knows (a quantity being typed): every other
    placeholder filled, ``{n}`` and the plural forms left for ``Tuan.fill`` in the browser
    (a template's ``t_for_script``; hand it to the script as JSON: ``|tojson``)."""
    entry = messages().get(key)
    text = entry.get(lang, key) if entry else key
    known = {name: str(value) for name, value in values.items() if name != "n"}
    if isinstance(text, dict):
        return {form: fill(sentence, known) for form, sentence in text.items()}
    return fill(text, known)


def choose_language(request: Request) -> str:
    """``?lang=`` wins, then the best ``Accept-Language`` entry we have, then Chinese."""
    asked = request.query_params.get("lang", "").lower()
    if asked in LANGUAGES:
        return asked
    ranked: list[tuple[float, str]] = []
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.split("-")[0].lower()
        if primary in LANGUAGES:
            ranked.append((quality, primary))
    return max(ranked)[1] if ranked else "zh"


def pick(value: Any, lang: str) -> str:
    """A ``{"zh": .., "en": ..}`` value in ``lang`` (a plain string is returned as it is)."""
    if isinstance(value, dict):
        return str(value.get(lang) or value.get("en") or value.get("zh") or "")
    return "" if value is None else str(value)


def _moment(value: str | datetime | int) -> datetime:
    """An aware datetime: ISO 8601 text or a datetime (naive ones are UTC: the index stores
    UTC), or Unix seconds (chain time)."""
    if isinstance(value, int):
        return datetime.fromtimestamp(value, UTC)
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_time(value: str | datetime | int | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """The one form of a time on every page: the wall clock of the moment's own offset and that
    offset named (``2026-12-01 12:24 UTC``, an EPCIS event ``2025-11-07 21:45 UTC+8``).

    Its twin is ``when`` in ``api/static/wallet.js``: the same form in the phone's zone
    (``2026-12-01 20:24 UTC+8``), which replaces this text on pages (see :func:`time_tag`).
    An ISO 8601 string or a datetime (naive ones are UTC: the index stores UTC), or Unix
    seconds (chain time: deadlines, shown in UTC); empty for nothing (0 is "not yet")."""
    if not value:
        return ""
    moment = _moment(value)
    return f"{moment.strftime(fmt)} {zone_label(moment)}"


def format_timestamp(value: int | str | None) -> str:
    """Unix seconds (chain time: deadlines) as :func:`format_time` shows every time."""
    return format_time(int(value)) if value else ""


def time_tag(value: str | datetime | int | None, *, own_zone: bool = False) -> Markup:
    """A time shown on a page (the ``time`` filter): :func:`format_time`'s text in a
    ``<time datetime="2026-12-01T12:24:00Z" data-local>``, which ``wallet.js`` rewrites in the
    phone's zone (``when``). The server cannot know the reader's zone; without scripts the
    named UTC stays. Element content only: never inside an attribute (``title=""``).

    ``own_zone``: the moment keeps the offset it carries and is not rewritten (an EPCIS event
    at its eventTimeZoneOffset: the wall clock where it happened, as its signed document says).
    """
    if not value:
        return Markup("")
    moment = _moment(value)
    if own_zone:
        stamp, mark = moment.isoformat(timespec="seconds"), ""
    else:
        stamp = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        mark = " data-local"
    text = escape(format_time(moment))
    return Markup(f'<time datetime="{stamp}"{mark}>{text}</time>')


def with_time(text: str, value: str | datetime | int | None) -> Markup:
    """A sentence that prints a time in it (a notice's ``{until}``, :func:`format_time`'s text)
    with that time marked as :func:`time_tag` marks one; the rest escaped (``with_time`` filter).
    """
    if not value:
        return escape(text)
    return escape(text).replace(escape(format_time(value)), time_tag(value))


def timestamp_tag(value: int | str | None) -> Markup:
    """Unix seconds (chain time: deadlines) as :func:`time_tag` (the ``datetime`` filter)."""
    return time_tag(int(value)) if value else Markup("")


def money(amount: int | None, decimals: int = 6) -> str:
    """Token base units as a price: 45000000 -> ``45.00``."""
    if amount is None:
        return "-"
    return f"{amount / 10**decimals:,.2f}"


CURRENCY = "tUSD"  # the payment token's symbol, after the amount on every page


def price(amount: int | None, decimals: int = 6) -> str:
    """An amount with its currency, as every page shows one: 45000000 -> ``45.00 tUSD``."""
    return f"{money(amount, decimals)} {CURRENCY}"


def short(value: str | None, keep: int = 6) -> str:
    """``0x1234…abcd`` for addresses, hashes and CIDs."""
    if not value:
        return ""
    text = str(value)
    return text if len(text) <= 2 * keep + 1 else f"{text[:keep]}…{text[-keep + 2 :]}"


def batch_path(gtin: str, lot: str) -> str:
    """``/01/{gtin}/10/{lot}``, both escaped as in a Digital Link (a lot may hold "/" or "?"),
    for the pages' links to a batch; unvalidated: a page shows whatever the chain holds."""
    return f"/01/{dl_encode(str(gtin))}/10/{dl_encode(str(lot))}"


# Every page: scripts from this service's own files only (the pages have no inline script but
# JSON data blocks, and no handler attributes), so text that escaped its escaping still runs
# nothing; no other site may frame a page (a signing button under a decoy: clickjacking);
# connections to this service only. Pictures from this service only (product photos are its
# documents: photo_path), ``data:`` (a wallet's EIP-6963 icon) and ``blob:`` (a private photo
# opened in the browser); styles may be inline (progress bars' widths).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers older than CSP 2
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # page URLs name addresses: not for other sites' logs
}


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        pick=pick,
        time=time_tag,
        datetime=timestamp_tag,
        with_time=with_time,
        money=money,
        price=price,
        short=short,
        photo=photo_path,
    )
    env.globals.update(
        temperature_plot=temperature_plot,
        bar_chart=bar_chart,
        donut_chart=donut_chart,
        batch_path=batch_path,
        # The actions a passkey account may sign (the wallet bar's data-passkey-actions): the
        # same on every page, so a global, there for a template rendered on its own too.
        passkey_actions=PASSKEY_ACTIONS,
    )
    return env


def render(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """Render ``template`` in the request's language; ``t(key)`` gives a label, ``t(key, n=2)``
    a count in words (:func:`words`: never ``.replace('{n}', …)``)."""
    lang = choose_language(request)
    table = messages()

    def t(key: str, **values: Any) -> str:
        return words(key, lang, values)

    def t_for_script(key: str, **values: Any) -> Words:
        return words_for_script(key, lang, values)

    js = {key: entry.get(lang, key) for key, entry in table.items() if key.startswith("js_")}
    html = (
        environment()
        .get_template(template)
        .render(
            **context,
            lang=lang,
            t=t,
            t_for_script=t_for_script,
            js_messages=js,
            path=request.url.path,
            query=dict(request.query_params),
            # This page's own path and query: where the passkey page sends one back (``next``).
            here=request.url.path + ("?" + request.url.query if request.url.query else ""),
        )
    )
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={"Content-Language": lang, "Vary": "Accept-Language", **PAGE_SECURITY_HEADERS},
    )
