"""Every error code the API can answer has words in zh and en, for the pages that show it
(``explain()`` in ``static/wallet.js``, the error page): ``js_err_<code>``.

The codes are read from the code, not listed by hand: the string given to each raiser
(``ApiError(status, code, …)``, ``error_body(code, …)``, ``PrivateDocumentError(code, …)`` and
any function that passes its ``code`` parameter on to one of them), including a code chosen by
an expression (``code = "a" if … else "b"``); and the domain errors :mod:`api.errors` maps, by
class name, with the status it gives them. A 5xx domain error (the node, the store, the database
is down) is one sentence per status, ``js_err_http_<status>``: the operator reads the log, a
person only needs to know it is not their doing. The contract's own errors (``details.error``,
e.g. ``DealClosed``) are worded where a page can cause them (see i18n.json's ``js_err_<Name>``).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import api
from api.errors import DOMAIN_STATUS, _snake, status_for
from api.render import messages
from chain.errors import ContractRevert

API_DIR = Path(api.__file__).resolve().parent
# Raiser name -> the index of its code argument; wrappers are found below.
# ``_fail``: a relayed request or user operation that failed (``GET /v1/relay/{id}``'s
# ``error.code``, shown by the signing sheet through ``explain()`` too).
SEEDS = {"ApiError": 1, "error_body": 0, "PrivateDocumentError": 0, "_fail": 2}
# Functions whose code is a contract revert's Solidity name (``details.error``-style words).
REVERT_NAMES = {"_fail_revert"}


def _strings(node: ast.AST) -> set[str]:
    return {
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def _name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def raised_codes() -> dict[str, str]:
    """``{code: "file:line"}`` of every code string given to a raiser under ``api/``."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in API_DIR.rglob("*.py")}
    constants = {  # module-level NAME = "text" (CHAIN_CHANGED = "chain_changed")
        target.id: node.value.value
        for tree in trees.values()
        for node in getattr(tree, "body", [])
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }

    def strings(node: ast.AST) -> set[str]:
        names = (n.id for n in ast.walk(node) if isinstance(n, ast.Name))
        return _strings(node) | {constants[name] for name in names if name in constants}

    raisers = dict(SEEDS)
    changed = True
    while changed:  # a function handing its ``code`` parameter to a raiser is a raiser too
        changed = False
        for tree in trees.values():
            for fn in _functions(tree):
                params = [a.arg for a in fn.args.args if a.arg not in ("self", "cls")]
                if "code" not in params or fn.name in raisers:
                    continue
                for call in (n for n in ast.walk(fn) if isinstance(n, ast.Call)):
                    index = raisers.get(_name(call) or "")
                    if index is None or len(call.args) <= index:
                        continue
                    if isinstance(call.args[index], ast.Name) and call.args[index].id == "code":
                        raisers[fn.name] = params.index("code")
                        changed = True
                        break
    codes: dict[str, str] = {}
    unresolved: list[str] = []
    for path, tree in trees.items():
        where = path.relative_to(API_DIR.parent)
        for fn in _functions(tree):
            params = {a.arg for a in fn.args.args}
            assigned: dict[str, set[str]] = {}
            for node in ast.walk(fn):
                if isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            assigned.setdefault(target.id, set()).update(strings(node.value))
                        elif isinstance(target, ast.Attribute) and target.attr == "error_code":
                            for code in strings(node.value):  # row.error_code = "…"
                                codes.setdefault(code, f"{where}:{node.lineno}")
            for call in (n for n in ast.walk(fn) if isinstance(n, ast.Call)):
                index = raisers.get(_name(call) or "")
                if index is None:
                    continue
                arg = call.args[index] if len(call.args) > index else None
                if arg is None:
                    continue  # another function of that name (serve.py's one-argument _fail)
                if isinstance(arg, ast.Name) and arg.id in params and fn.name in raisers:
                    continue  # a wrapper passing its own parameter on
                if fn.name in REVERT_NAMES:
                    continue
                if isinstance(arg, ast.Name) and arg.id in assigned:
                    found = assigned[arg.id]
                elif isinstance(arg, ast.Constant | ast.IfExp | ast.BoolOp | ast.Name):
                    found = strings(arg)
                else:
                    found = set()
                if not found:
                    unresolved.append(f"{where}:{call.lineno} {ast.unparse(arg)}")
                for code in found:
                    codes.setdefault(code, f"{where}:{call.lineno}")
    # The domain handler's own expression (api.errors): class names, checked below.
    unresolved = [u for u in unresolved if not u.startswith("api/errors.py") or "exc" not in u]
    assert not unresolved, f"codes the test cannot read: {unresolved}"
    return codes


def _import_all() -> None:
    for package in ("api", "chain", "traceability"):
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, package + "."):
            if info.name.endswith("migrations.env"):
                continue  # Alembic's script: runs only under Alembic
            importlib.import_module(info.name)


def _subclasses(cls: type) -> Iterator[type]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _subclasses(sub)


def domain_codes() -> dict[str, int]:
    """``{code: status}`` of every domain error class the error handlers map (the contract's
    reverts aside: their code is their Solidity name's, in ``details.error``)."""
    _import_all()
    codes: dict[str, int] = {}
    for cls, _ in DOMAIN_STATUS:
        for sub in _subclasses(cls):
            if issubclass(sub, ContractRevert) or sub.__name__.startswith("PrivateDocument"):
                continue  # PrivateDocumentError's code is its argument (raised_codes)
            status = next(s for c, s in DOMAIN_STATUS if issubclass(sub, c))
            codes[_snake(sub.__name__)] = status
    return codes


def _worded(key: str) -> bool:
    entry = messages().get(key, {})
    return all(entry.get(lang, "").strip() for lang in ("zh", "en"))


def test_the_code_reader_finds_the_known_codes() -> None:
    codes = raised_codes()
    for code in ("faucet_limit", "untrusted_target", "invalid_permit", "input_too_deep"):
        assert code in codes
    assert {"replayed_nonce", "nonce_ahead"} <= set(codes)  # chosen by an expression
    assert {"not_found", "method_not_allowed", "http_error"} <= set(codes)
    assert {"nonce_used", "chain_changed", "previous_request_failed"} <= set(codes)  # relay
    assert status_for(ContractRevert("x")) == 409


def test_every_api_error_code_has_words_in_both_languages() -> None:
    missing = sorted(
        f"js_err_{code} ({where})"
        for code, where in raised_codes().items()
        if not _worded(f"js_err_{code}")
    )
    for code, status in domain_codes().items():
        key = f"js_err_{code}" if status < 500 else f"js_err_http_{status}"
        if not _worded(key):
            missing.append(f"{key} ({code})")
    assert not sorted(set(missing)), sorted(set(missing))


def test_every_contract_error_has_words_in_both_languages() -> None:
    """A refused action answers 409 with the contract's own error (``details.error``): each
    custom error declared in ``contracts/`` (the tests' contracts aside) has words."""
    import re

    root = API_DIR.parent / "contracts"
    declared = {
        name
        for path in root.rglob("*.sol")
        if "test" not in path.relative_to(root).parts
        for name in re.findall(r"^\s*error\s+(\w+)\s*\(", path.read_text(), re.MULTILINE)
    }
    assert {"DealClosed", "NoOpenClaim", "SettlementTooEarly"} <= declared
    missing = sorted(name for name in declared if not _worded(f"js_err_{name}"))
    assert not missing, missing
