"""The event tree the CBV 2.0 hash reads, built exactly as GS1's reference generator builds it.

GS1's reference implementation (PyPI ``epcis-event-hash-generator`` 1.9.3) is what third parties
verify anchored hashes with, so this module reproduces its JSON-LD reading step by step,
including where it departs from the CBV 2.0 text (listed in ``docs/epcis-hash.md``):

1. **Bare vocabulary values.** The generator JSON-LD-expands the whole document, keeps every
   expanded value under ``https://ref.gs1.org/cbv`` or ``https://gs1.org/voc``, and then replaces
   *any* string of the document equal to the part after a ``-`` or ``/`` of exactly one of them
   (``"shipping"`` -> ``https://ref.gs1.org/cbv/BizStep-shipping``, wherever it appears).
   :func:`vocabulary_values` computes that set from the EPCIS context without a JSON-LD
   processor (PyLD takes ~5 ms a document); the suite checks it against PyLD's expansion.
2. **Namespaces.** Prefixes come from the document's top-level ``@context`` *list* only; an
   extension key ``prefix:name`` becomes ``{namespace}name`` and a value ``prefix:rest`` becomes
   ``namespace+rest``.
3. **Tree.** Each JSON member is a :class:`Node` (name, text, children); siblings are sorted,
   except in an object with a ``bizTransaction``/``source``/``destination`` member.
4. **List names.** A member named ``xList`` holds ``x`` items; ``bizTransactionList``,
   ``sourceList`` and ``destinationList`` items become pairs of their first two members, in
   document order.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

from traceability.epcis.errors import EventHashError
from traceability.epcis.vocabulary import epcis_context

# The EPCIS 2.0 context under both URLs the generator ships (identical terms).
EPCIS_CONTEXT_URLS = frozenset(
    {
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        "https://gs1.github.io/EPCIS/epcis-context.jsonld",
    }
)
_VOCABULARY_ROOTS = ("https://ref.gs1.org/cbv", "https://gs1.org/voc")
_PAIR_LISTS = ("bizTransactionList", "sourceList", "destinationList")
_PAIR_KEYS = ("bizTransaction", "source", "destination")
_NOT_DATA = ("#text", "rdfs:comment", "comment")
_GEN_DELIMS = tuple(":/?#[]@")


class Node(NamedTuple):
    """One member as the generator sees it; ``children`` is mutated while the hash consumes it."""

    name: str
    text: str
    children: list[Any]  # Node, or a pair (tuple of Nodes) inside the three typed lists


# ---------------------------------------------------------------- 1. JSON-LD vocabulary values


@dataclass(frozen=True)
class _Term:
    iri: str | None  # None: a keyword alias (@id, @type) or a term mapped to null
    keyword: str | None = None
    value_type: str | None = None  # "@id", "@vocab" or a datatype
    scoped: Mapping[str, Any] | None = None
    prefix: bool = False


@dataclass
class _Context:
    """The active JSON-LD context, reduced to what decides the expanded vocabulary values."""

    terms: dict[str, _Term] = field(default_factory=dict)
    protected: frozenset[str] = frozenset()

    def copy(self) -> _Context:
        return _Context(dict(self.terms), self.protected)

    def expand_iri(self, value: str, *, vocab: bool) -> str:
        """JSON-LD IRI expansion of ``value`` (terms only in vocabulary position)."""
        if vocab and value in self.terms:
            term = self.terms[value]
            return term.keyword or term.iri or value
        prefix, sep, suffix = value.partition(":")
        if sep and prefix != "_" and not suffix.startswith("//"):
            term = self.terms.get(prefix)
            if term is not None and term.prefix and term.iri is not None:
                return term.iri + suffix
        return value


def _term_iri(ctx: _Context, definition: Any, name: str) -> str | None:
    iri = definition if isinstance(definition, str) else definition.get("@id")
    if iri is None:
        # A term without @id: its own name, expanded as a compact IRI.
        return ctx.expand_iri(name, vocab=False) if ":" in name else None
    return ctx.expand_iri(iri, vocab=True)


def _define(ctx: _Context, name: str, definition: Any) -> _Term:
    if definition is None:
        return _Term(None)
    raw = definition if isinstance(definition, str) else definition.get("@id")
    if isinstance(raw, str) and raw.startswith("@"):
        return _Term(None, keyword=raw)
    iri = _term_iri(ctx, definition, name)
    if isinstance(definition, str):
        # JSON-LD 1.1: a simple term is a prefix when its IRI ends with a gen-delim.
        return _Term(iri, prefix=bool(iri) and iri.endswith(_GEN_DELIMS))
    return _Term(
        iri,
        value_type=definition.get("@type"),
        scoped=definition.get("@context"),
        prefix=bool(definition.get("@prefix", False)),
    )


# How a local context is applied: the EPCIS context itself (its terms become protected), a
# property-scoped context inside it (may override protected terms, as JSON-LD 1.1 allows), or
# a context written in the document (prefix declarations; may not redefine a protected term).
_EPCIS, _SCOPED, _USER = "epcis", "scoped", "user"


# Scoped contexts of the EPCIS context are applied at every bizStep, sensorReport...: their
# results are kept (contexts are never mutated once built; the entry keeps both inputs alive
# so their ids stay theirs).
_APPLIED: dict[tuple[int, int, str], tuple[_Context, Any, _Context]] = {}
_APPLIED_USER: dict[tuple[int, str], tuple[_Context, _Context]] = {}


def _apply(ctx: _Context, local: Any, mode: str) -> _Context:
    """``ctx`` updated by a local context (the EPCIS context URL, or an object)."""
    if local is None:
        return ctx
    if mode == _USER:
        # A document's own context is a fresh object per parse but usually the same text for
        # every event of a supplier: keyed by its canonical JSON, it is applied once.
        try:
            text = json.dumps(local, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError):
            return _apply_parts(ctx, local, mode)
        user_key = (id(ctx), text)
        if (user_hit := _APPLIED_USER.get(user_key)) is None:
            if len(_APPLIED_USER) > 4096:
                _APPLIED_USER.clear()
            user_hit = _APPLIED_USER[user_key] = (ctx, _apply_parts(ctx, local, mode))
        return user_hit[1]
    key = (id(ctx), id(local), mode)
    if (hit := _APPLIED.get(key)) is None:
        if len(_APPLIED) > 4096:
            _APPLIED.clear()
        hit = _APPLIED[key] = (ctx, local, _apply_parts(ctx, local, mode))
    return hit[2]


def _apply_parts(ctx: _Context, local: Any, mode: str) -> _Context:
    for part in local if isinstance(local, list) else [local]:
        if isinstance(part, str):
            if part not in EPCIS_CONTEXT_URLS:
                raise EventHashError(
                    f"@context {part!r} cannot be resolved offline: only the EPCIS 2.0 context "
                    "URL and inline prefix declarations are supported"
                )
            ctx = _epcis_base() if not ctx.terms else _apply(ctx, epcis_context(), _EPCIS)
            continue
        if not isinstance(part, Mapping):
            raise EventHashError(f"unsupported @context entry {part!r}")
        ctx = ctx.copy()
        protected = set(ctx.protected)
        for name, definition in part.items():
            if name.startswith("@"):
                if name in ("@protected", "@version") and mode != _USER:
                    continue
                raise EventHashError(f"unsupported @context keyword {name!r}")
            if mode == _USER and not isinstance(definition, str):
                raise EventHashError(
                    f"unsupported @context definition of {name!r}: only prefix declarations "
                    "(a string) are supported"
                )
            term = _define(ctx, name, definition)
            if mode != _SCOPED and name in ctx.protected and ctx.terms.get(name) != term:
                # JSON-LD 1.1 refuses to redefine a protected term; so does the generator.
                raise EventHashError(f"@context redefines the protected EPCIS term {name!r}")
            ctx.terms[name] = term
            if mode == _EPCIS:
                protected.add(name)
            else:
                protected.discard(name)
        ctx.protected = frozenset(protected)
    return ctx


# The one empty context: contexts are never mutated, and one identity lets the caches above hit.
_EMPTY_CONTEXT = _Context()


@cache
def _epcis_base() -> _Context:
    return _apply_parts(_Context(), epcis_context(), _EPCIS)


def _expanded_strings(value: Any, ctx: _Context, term: _Term | None) -> Iterator[str]:
    """Expanded string values of one member's value (JSON-LD expansion, reduced)."""
    if isinstance(value, list):
        for item in value:
            yield from _expanded_strings(item, ctx, term)
    elif isinstance(value, Mapping):
        yield from _node_strings(value, ctx)
    elif isinstance(value, str):
        kind = term.value_type if term else None
        if kind == "@vocab":
            yield ctx.expand_iri(value, vocab=True)
        elif kind == "@id":
            yield ctx.expand_iri(value, vocab=False)
        else:
            yield value


def _node_strings(obj: Mapping[str, Any], ctx: _Context) -> Iterator[str]:
    if "@context" in obj:
        ctx = _apply(ctx, obj["@context"], _USER)
    for key, value in obj.items():
        term = ctx.terms.get(key)
        keyword = term.keyword if term else (key if key.startswith("@") else None)
        if keyword == "@id" and isinstance(value, str):
            yield ctx.expand_iri(value, vocab=False)
        elif keyword == "@type":
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str):
                    yield ctx.expand_iri(item, vocab=True)
        elif keyword == "@value" and isinstance(value, str):
            yield value
        elif keyword is not None:
            continue
        elif term is None:
            if ":" in key:  # a compact or absolute IRI: an untyped property
                yield from _expanded_strings(value, ctx, None)
            # else: JSON-LD drops a member whose key expands to no IRI (there is no @vocab)
        elif term.iri is not None:
            inner = ctx if term.scoped is None else _apply(ctx, term.scoped, _SCOPED)
            yield from _expanded_strings(value, inner, term)


def vocabulary_values(document: Mapping[str, Any]) -> frozenset[str]:
    """Expanded values under the CBV or GS1 Web Vocabulary roots anywhere in ``document``."""
    strings = _node_strings(document, _EMPTY_CONTEXT)
    return frozenset(v for v in strings if v.startswith(_VOCABULARY_ROOTS))


def _suffix_table(values: frozenset[str]) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for full in values:
        for i, char in enumerate(full):
            if char in "-/":
                table.setdefault(full[i + 1 :], []).append(full)
    return table


def replace_bare_strings(document: Any, values: frozenset[str]) -> Any:
    """``document`` with every string that names exactly one vocabulary value replaced by it."""
    table = _suffix_table(values)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            matches = table.get(value, ())
            return matches[0] if len(set(matches)) == 1 else value
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, Mapping):
            return {k: walk(v) for k, v in value.items()}
        return value

    return walk(document)


# ---------------------------------------------------------------- 2-4. the tree


def namespaces_of(context: Any) -> dict[str, str]:
    """Prefix -> ``{namespace}`` as the generator reads a document's top-level ``@context``."""
    found: dict[str, str] = {}
    if isinstance(context, list):
        for part in context:
            if isinstance(part, str):
                found[part] = "{" + part + "}"
            elif isinstance(part, Mapping):
                for key, value in part.items():
                    if not isinstance(value, str):
                        raise EventHashError(f"unsupported @context definition of {key!r}")
                    found[key] = "{" + value + "}"
    return found


def _qualify(text: Any, namespaces: dict[str, str], *, is_value: bool = False) -> Any:
    if not isinstance(text, str):
        return text
    prefix, sep, rest = text.partition(":")
    if sep and prefix in namespaces:
        namespace = namespaces[prefix]
        return (namespace.replace("{", "").replace("}", "") if is_value else namespace) + rest
    return text


def _scalar_text(value: Any) -> str:
    # Python's str() of the JSON value, as the generator writes it: True, None, 1.0, 1e-07.
    return str(value)


def to_tree(obj: Any, namespaces: dict[str, str]) -> Node:
    """The generator's tree of one JSON value (its ``_json_to_py``)."""
    name: Any = ""
    text: Any = ""
    children: list[Any] = []
    if isinstance(obj, list):
        children = [to_tree(item, namespaces) for item in obj]
    elif isinstance(obj, Mapping):
        if "type" in obj:
            name = obj["type"]
        if "#text" in obj:
            text = obj["#text"]
        for key, value in obj.items():
            if key in _NOT_DATA:
                continue
            if key.startswith("@xmlns"):
                namespaces[key[7:]] = "{" + str(value) + "}"
                name = _qualify(name, namespaces)
                continue
            child = to_tree(value, namespaces)
            key = _qualify(key, namespaces)
            if isinstance(value, list):
                children.extend(Node(key, item.text, item.children) for item in child.children)
            else:
                children.append(Node(key, child.text, child.children))
    else:
        return Node("", _scalar_text(_qualify(obj, namespaces, is_value=True)), [])
    if not any(key in obj for key in _PAIR_KEYS):
        children.sort()
    if not isinstance(text, str):
        text = _scalar_text(text)
    return Node(name, text, children)


def _pair(item: Node) -> tuple[Node, ...]:
    # The generator takes the item's first two members (type first when written first). An
    # item with a single member (a bizTransaction without type, valid EPCIS) makes it raise;
    # CBV rule 13 then simply has no type to add, so the item stands alone.
    if len(item.children) >= 2:
        return (item.children[0], item.children[1])
    if item.children:
        return (item.children[0],)
    raise EventHashError(f"{item.name} item has no members")


def correct_structure(node: Node) -> Node:
    """The generator's JSON-to-XML model corrections (its ``deep_structure_correction``)."""
    children = list(node.children)
    lists: dict[str, list[Node]] = {}
    for element in [e for e in children if isinstance(e, Node) and e.name.endswith("List")]:
        lists.setdefault(element.name, []).append(
            Node(element.name[:-4], element.text, element.children)
        )
        children.remove(element)
    for list_name, elements in lists.items():
        if list_name in _PAIR_LISTS:
            children.append(Node(list_name, "", [_pair(e) for e in elements]))
        else:
            children.append(Node(list_name, "", elements))
    epcs = [Node("epc", e.text, []) for e in children if e.name == "childEPCs"]
    if epcs:
        children = [e for e in children if e.name != "childEPCs"]
        children.append(Node("childEPCs", "", epcs))
    corrected = [e if e.name in _PAIR_LISTS else correct_structure(e) for e in children]
    return _rename(Node(node.name, node.text, corrected))


def _rename(node: Node) -> Node:
    if node.name in ("inputEPC", "outputEPC"):
        return Node("epc", node.text, node.children)
    if node.name in ("inputQuantity", "outputQuantity", "childQuantity") or (
        node.name == "quantity" and node.children
    ):
        return Node("quantityElement", node.text, node.children)
    return node


def event_trees(document: Mapping[str, Any]) -> list[Node]:
    """The corrected tree of every event of an EPCIS document, in document order."""
    values = vocabulary_values(document)
    replaced = replace_bare_strings(copy.deepcopy(dict(document)), values)
    namespaces = namespaces_of(replaced.get("@context"))
    body = replaced.get("epcisBody")
    if not isinstance(body, Mapping):
        raise EventHashError("document has no epcisBody")
    events = body["eventList"] if "eventList" in body else [body.get("event")]
    trees = []
    for event in events:
        if not isinstance(event, Mapping):
            raise EventHashError("an event must be a JSON object")
        if not isinstance(event.get("type"), str) or not event["type"]:
            raise EventHashError("event has no 'type'")
        trees.append(correct_structure(to_tree(event, namespaces)))
    return trees
