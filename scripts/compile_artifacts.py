"""Compile the contracts the Python tests load, ahead of them: ``make test`` runs this beside
forge's tests (forge's solc-js compile keeps one core busy for about a minute; this and the
Slither gate use the other), so the tests' session fixtures find both caches up to date.

Run: ``.venv/bin/python scripts/compile_artifacts.py``. Prints one JSON object (contracts per
directory, seconds). The directories are the ones tests/conftest.py's ``artifacts`` and
``test_artifacts`` fixtures use; were they to differ, the fixtures would compile again (slower,
never wrong: the cache is keyed by every source, setting and the compiler).
"""

from __future__ import annotations

import json
import time

from chain.artifacts import REPO_ROOT
from chain.compile import compile_contracts

TEST_CONTRACTS_DIR = REPO_ROOT / "tests" / "chain" / "contracts"
TEST_ARTIFACTS_DIR = REPO_ROOT / "build" / "artifacts-test"


def main() -> None:
    started = time.monotonic()
    project = compile_contracts()
    tests = compile_contracts(
        sorted(TEST_CONTRACTS_DIR.glob("*.sol")), artifacts_dir=TEST_ARTIFACTS_DIR
    )
    print(
        json.dumps(
            {
                "build/artifacts": len(project),
                "build/artifacts-test": len(tests),
                "seconds": round(time.monotonic() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
