"""A count in words: one mechanism for pages, notices and the browser's script.

Words that count something (``{n}``) have a form per plural category in ``i18n.json``
(``{"one": "{n} unit", "other": "{n} units"}``); ``api.render.words`` (a template's
``t(key, n=…)``) and ``Tuan.t``/``Tuan.fill`` in ``wallet.js`` choose the form: never
"1 units", and never ``.replace('{n}', …)`` by hand."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.render import (
    STATIC_DIR,
    TEMPLATES_DIR,
    fill,
    messages,
    plural_category,
    words,
    words_for_script,
)

CATEGORIES = {"zero", "one", "two", "few", "many", "other"}
counts = st.integers(min_value=0, max_value=10**12)


@given(n=counts)
def test_english_says_one_unit_and_any_other_count_units(n: int) -> None:
    assert words("js_units", "en", {"n": n}) == (f"{n} unit" if n == 1 else f"{n} units")
    assert plural_category("en", n) == ("one" if n == 1 else "other")


@given(n=counts)
def test_chinese_has_no_plural(n: int) -> None:
    assert plural_category("zh", n) == "other"
    assert words("js_units", "zh", {"n": n}) == f"{n} 份"


@given(n=counts, lang=st.sampled_from(["zh", "en"]))
def test_every_counting_entry_says_its_count_and_fills_every_placeholder(n: int, lang: str) -> None:
    for key, entry in messages().items():
        if not isinstance(entry.get("en"), dict):
            continue
        values = {name: f"<{name}>" for name in _placeholders(entry[lang])} | {"n": str(n)}
        said = words(key, lang, values)
        assert str(n) in said and "{" not in said, (key, said)


def test_a_count_the_script_fills_keeps_its_forms_and_fills_the_rest() -> None:
    forms = words_for_script("sign_pickup_code", "en", {"product": "Rice", "place": "Gate 3"})
    assert isinstance(forms, dict) and set(forms) == {"one", "other"}
    assert "Take {n} unit of Rice at Gate 3" in forms["one"]
    assert "Take {n} units of Rice at Gate 3" in forms["other"]
    zh = words_for_script("sign_pickup_code", "zh", {"product": "大米", "place": "3 号门"})
    assert zh == fill(messages()["sign_pickup_code"]["zh"], {"product": "大米", "place": "3 号门"})
    with pytest.raises(ValueError):
        fill(messages()["js_units"]["en"], {"n": "1"})  # which language's "one"?


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node for Intl.PluralRules")
def test_the_server_chooses_the_form_intl_plural_rules_chooses_in_the_browser() -> None:
    numbers = [*range(202), 1001, 10**6 + 1, 2**53 - 1]
    script = (
        "const ns = JSON.parse(process.argv[1]);"
        "const out = {};"
        "for (const lang of ['en', 'zh-CN']) {"
        " const rules = new Intl.PluralRules(lang); out[lang] = ns.map((n) => rules.select(n)); }"
        "console.log(JSON.stringify(out));"
    )
    run = subprocess.run(
        ["node", "-e", script, json.dumps(numbers)], capture_output=True, text=True, check=True
    )
    browser = json.loads(run.stdout)
    assert [plural_category("en", n) for n in numbers] == browser["en"]
    assert [plural_category("zh", n) for n in numbers] == browser["zh-CN"]


def _placeholders(text: str | dict[str, str]) -> set[str]:
    forms = text.values() if isinstance(text, dict) else [text]
    return {name for form in forms for name in re.findall(r"\{(\w+)\}", form)}


def test_counting_words_are_well_formed_and_english_counts_agree() -> None:
    """Plural forms: CLDR categories with "other"; English's "one" too; every form the same
    placeholders as the other language. ``{n}`` is a count (never a block number or a tier's
    place), and no plain English sentence counts a plural noun: "{n} units", "unit(s)"."""
    wrong = []
    for key, entry in messages().items():
        for lang, text in entry.items():
            if isinstance(text, dict):
                if not set(text) <= CATEGORIES or "other" not in text:
                    wrong.append((key, lang, "categories"))
                if lang == "en" and "one" not in text:
                    wrong.append((key, lang, "no one"))
                if len({frozenset(re.findall(r"\{(\w+)\}", form)) for form in text.values()}) > 1:
                    wrong.append((key, lang, "forms differ"))
                if "n" not in _placeholders(text):
                    wrong.append((key, lang, "forms without a count"))
        if _placeholders(entry["zh"]) != _placeholders(entry["en"]):
            wrong.append((key, "zh/en", "placeholders differ"))
        english = entry["en"]
        plain_count = isinstance(english, str) and "{n}" in english
        if plain_count and ("(s)" in english or re.search(r"\{n\} (?:\w+ )?\w+s\b", english)):
            wrong.append((key, "en", "a count without plural forms: " + english))
    assert not wrong, wrong


def test_no_page_or_script_fills_a_count_by_hand() -> None:
    by_hand = re.compile(r"""\.replace\(\s*['"]\{n\}['"]""")
    found = [
        f"{path.name}:{number}"
        for path in [*TEMPLATES_DIR.glob("*.html"), *STATIC_DIR.glob("*.js")]
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if by_hand.search(line)
    ]
    assert not found, found
