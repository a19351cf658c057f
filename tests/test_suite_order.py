"""The suite's scheduling hint (tests/conftest.py's LONG_FILES) names files that exist."""

from __future__ import annotations

import pytest

from chain.artifacts import REPO_ROOT


def test_every_long_file_exists_once(pytestconfig: pytest.Config) -> None:
    conftest = pytestconfig.pluginmanager.get_plugin(str(REPO_ROOT / "tests" / "conftest.py"))
    long_files = conftest.LONG_FILES
    assert len(set(long_files)) == len(long_files)
    missing = [path for path in long_files if not (REPO_ROOT / path).is_file()]
    assert not missing, f"tests/conftest.py LONG_FILES names files that are gone: {missing}"
