"""Compile the Solidity sources with py-solc-x into ``build/artifacts/<Name>.json``.

The compiler is pinned (0.8.30). No native solc can be downloaded here, so ``tools/solc`` (a
native-solc-compatible CLI over solc-js) is registered with py-solc-x as an *installed*
version: ``build/solcx/solc-v0.8.30`` is a symlink to it and py-solc-x is pointed at
``build/solcx``. A native ``solc`` 0.8.30 on ``PATH`` is preferred when present (faster).

Settings mirror ``foundry.toml`` (optimizer 200 runs, evm osaka, the OpenZeppelin remapping,
source unit names relative to the repository root, ipfs metadata hash) so the bytecode is
byte-identical to forge's. Output is cached by a hash of every source + settings + compiler.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import solcx
import solcx.install

from chain.artifacts import DEFAULT_ARTIFACTS_DIR, REPO_ROOT, Artifact, load_all_artifacts
from chain.exceptions import CompilationFailed

logger = logging.getLogger(__name__)

SOLC_VERSION = "0.8.30"
CONTRACTS_DIR = REPO_ROOT / "contracts"
SOLCX_DIR = REPO_ROOT / "build" / "solcx"
SOLC_JS_CLI = REPO_ROOT / "tools" / "solc"
OPENZEPPELIN_PACKAGE = REPO_ROOT / "node_modules" / "@openzeppelin" / "contracts" / "package.json"
CACHE_FILE_NAME = "_cache.json"

COMPILER_SETTINGS: dict[str, Any] = {
    "remappings": [":@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/"],
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "osaka",
    "metadata": {"bytecodeHash": "ipfs"},
    "outputSelection": {
        "*": {
            "*": [
                "abi",
                "evm.bytecode.object",
                "evm.bytecode.linkReferences",
                "evm.deployedBytecode.object",
            ]
        }
    },
}


def project_sources(contracts_dir: Path = CONTRACTS_DIR) -> list[Path]:
    """The deployable project's sources: ``contracts/**/*.sol`` without the forge tests."""
    test_dir = contracts_dir / "test"
    return sorted(p for p in contracts_dir.rglob("*.sol") if test_dir not in p.parents)


def _native_solc() -> Path | None:
    found = shutil.which("solc")
    if not found:
        return None
    try:
        out = subprocess.run(
            [found, "--version"], check=False, capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(found) if f"Version: {SOLC_VERSION}" in out else None


def solc_binary() -> Path:
    """The solc executable py-solc-x will run: native 0.8.30 if on PATH, else tools/solc."""
    native = _native_solc()
    if native is not None:
        return native
    SOLCX_DIR.mkdir(parents=True, exist_ok=True)
    link = SOLCX_DIR / f"solc-v{SOLC_VERSION}"
    if not link.is_symlink() or link.resolve() != SOLC_JS_CLI.resolve():
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(SOLC_JS_CLI.resolve())
    # py-solc-x's own lookup of installed versions: proves the registration works.
    return solcx.install.get_executable(SOLC_VERSION, solcx_binary_path=SOLCX_DIR)


def _source_unit_name(path: Path, base: Path) -> str:
    return path.resolve().relative_to(base).as_posix()


def _cache_key(sources: dict[str, str], settings: dict[str, Any], binary: Path) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps(settings, sort_keys=True).encode())
    digest.update(SOLC_VERSION.encode())
    digest.update(str(binary.resolve()).encode())
    if OPENZEPPELIN_PACKAGE.is_file():
        digest.update(OPENZEPPELIN_PACKAGE.read_bytes())
    for name in sorted(sources):
        digest.update(name.encode() + b"\0" + sources[name].encode() + b"\0")
    return digest.hexdigest()


def compile_contracts(
    sources: Iterable[Path] | None = None,
    *,
    artifacts_dir: Path = DEFAULT_ARTIFACTS_DIR,
    base_path: Path = REPO_ROOT,
    force: bool = False,
) -> dict[str, Artifact]:
    """Compile ``sources`` (default: the project's) and write one artifact per contract.

    Returns the artifacts by contract name. Cached: if no source, setting or compiler changed
    since the last run into ``artifacts_dir``, nothing is compiled. One compile at a time in this
    work tree (a file lock): test workers and the processes they start may ask at the same moment,
    and a compile first deletes the directory's stale artifacts, which another could be reading.
    """
    with _compile_lock():
        return _compile_contracts(sources, artifacts_dir, base_path, force)


@contextlib.contextmanager
def _compile_lock() -> Iterator[None]:
    SOLCX_DIR.mkdir(parents=True, exist_ok=True)
    with (SOLCX_DIR / ".compile.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _compile_contracts(
    sources: Iterable[Path] | None, artifacts_dir: Path, base_path: Path, force: bool
) -> dict[str, Artifact]:
    paths = list(sources) if sources is not None else project_sources()
    texts = {_source_unit_name(p, base_path): p.read_text() for p in paths}
    binary = solc_binary()
    key = _cache_key(texts, COMPILER_SETTINGS, binary)
    cache_file = artifacts_dir / CACHE_FILE_NAME
    if not force and cache_file.is_file():
        cached = json.loads(cache_file.read_text())
        if cached.get("key") == key:
            logger.debug("artifacts in %s are up to date", artifacts_dir)
            return {a.name: a for a in load_all_artifacts(artifacts_dir)}

    logger.info("compiling %d sources with solc %s (%s)", len(texts), SOLC_VERSION, binary)
    standard_input = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in texts.items()},
        "settings": COMPILER_SETTINGS,
    }
    try:
        output = solcx.compile_standard(
            standard_input,
            base_path=str(base_path),
            allow_paths=[str(base_path)],
            solc_binary=binary,
        )
    except solcx.exceptions.SolcError as exc:
        raise CompilationFailed([str(exc)]) from exc
    problems = [
        e.get("formattedMessage", e.get("message", ""))
        for e in output.get("errors", [])
        if e.get("severity") == "error"
    ]
    if problems:
        raise CompilationFailed(problems)

    version = _compiler_version(binary)
    artifacts: dict[str, Artifact] = {}
    for source_name, contracts in output.get("contracts", {}).items():
        if source_name not in texts:
            continue  # imported library code (OpenZeppelin): reachable through our ABIs
        source_hash = hashlib.sha256(texts[source_name].encode()).hexdigest()
        for name, compiled in contracts.items():
            if name in artifacts:
                raise CompilationFailed([f"two contracts named {name} ({source_name})"])
            artifacts[name] = Artifact(
                name=name,
                source=source_name,
                abi=compiled["abi"],
                bytecode_hex=compiled["evm"]["bytecode"]["object"],
                deployed_bytecode_hex=compiled["evm"]["deployedBytecode"]["object"],
                link_references=compiled["evm"]["bytecode"].get("linkReferences", {}),
                compiler=version,
                settings={k: v for k, v in COMPILER_SETTINGS.items() if k != "outputSelection"},
                source_hash=source_hash,
            )

    artifacts_dir.mkdir(parents=True, exist_ok=True)
    for stale in artifacts_dir.glob("*.json"):
        stale.unlink()
    for artifact in artifacts.values():
        _write_atomic(artifacts_dir / f"{artifact.name}.json", artifact.to_json())
    _write_atomic(cache_file, {"key": key, "contracts": sorted(artifacts)})
    return artifacts


def _compiler_version(binary: Path) -> str:
    out = subprocess.run(
        [str(binary), "--version"], check=False, capture_output=True, text=True, timeout=60
    )
    for line in out.stdout.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return SOLC_VERSION


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)
