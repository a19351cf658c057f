"""README's configuration list and the code's ``TUANCHAIN_*`` variables name the same set.

An operator configures from README.md: a setting the code reads but the README never names is
undiscoverable, and one the README names but no code reads is silently ignored (pydantic-settings
drops unknown ``TUANCHAIN_*`` variables).
"""

from __future__ import annotations

import re

import click
import typer.main

from api.supplier.keystore import PASSWORD_ENV, ClientSettings
from chain.artifacts import REPO_ROOT
from chain.settings import Settings

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
# Only for the test suite and the Slither gate's own venv: not an operator's setting.
NOT_OPERATOR_SETTINGS = {"TUANCHAIN_TEST_POSTGRES_URL", "TUANCHAIN_SLITHER_VENV"}


def _settings_variables() -> set[str]:
    fields = set(Settings.model_fields) | set(ClientSettings.model_fields)
    return {"TUANCHAIN_" + name.upper() for name in fields} | {PASSWORD_ENV}


def _cli_variables() -> set[str]:
    """Every ``envvar`` of every option of every ``tuanchain`` command, nested groups too."""
    from tuanchain_cli import app

    found: set[str] = set()

    def walk(command: click.Command) -> None:
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            for name in [envvar] if isinstance(envvar, str) else envvar or []:
                found.add(name)
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return found


def test_every_variable_the_code_reads_is_in_the_readme() -> None:
    variables = _settings_variables() | _cli_variables()
    assert {"TUANCHAIN_RPC_URL", "TUANCHAIN_HOST", "TUANCHAIN_KEYSTORE"} <= variables
    missing = sorted(v for v in variables if not re.search(rf"\b{v}\b", README))
    assert not missing, f"read by the code, never named in README.md: {missing}"


def test_every_variable_the_readme_names_is_read() -> None:
    named = set(re.findall(r"\bTUANCHAIN_[A-Z0-9_]*[A-Z0-9]\b", README)) - NOT_OPERATOR_SETTINGS
    unread = sorted(named - _settings_variables() - _cli_variables())
    assert not unread, f"named in README.md, read by no code: {unread}"
