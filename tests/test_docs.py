"""The README documents every setting, CLI command, CLI option and ingest profile.

Like datasette's ``tests/test_docs.py``: adding a setting, a command or an option without
documenting it in README.md fails the suite.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import typer

from geo_discovery.cli.main import app
from geo_discovery.ingest import list_profiles
from geo_discovery.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
ROOT = typer.main.get_command(app)


def _commands(
    command: click.Command, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    out = [(path, command)]
    # typer vendors its own click: recognise groups by their `commands`, not by class
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        out.extend(_commands(sub, (*path, name)))
    return out


COMMANDS = [(p, c) for p, c in _commands(ROOT) if p]
OPTIONS = sorted(
    {
        (" ".join(path), opt)
        for path, command in COMMANDS
        for param in command.params
        for opt in param.opts
        if opt.startswith("--") and opt != "--help"
    }
)


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_setting_is_documented(name: str) -> None:
    env = f"GEO_DISCOVERY_{name.upper()}"
    assert f"`{env}`" in README, f"setting {name} ({env}) is not documented in README.md"
    assert f"`{name}`" in README, f"setting field `{name}` is not named in README.md"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=" ".join)
def test_command_is_documented(path: tuple[str, ...]) -> None:
    command = "geo-discovery " + " ".join(path)
    assert re.search(rf"`{re.escape(command)}[` ]", README), (
        f"CLI command `{command}` is not documented in README.md"
    )


@pytest.mark.parametrize(("command", "option"), OPTIONS, ids=lambda v: str(v))
def test_option_is_documented(command: str, option: str) -> None:
    assert re.search(rf"{re.escape(option)}(?![\w-])", README), (
        f"option {option} of `geo-discovery {command}` is not documented in README.md"
    )


@pytest.mark.parametrize("name", [p.name for p in list_profiles()])
def test_profile_is_documented(name: str) -> None:
    assert f"`{name}`" in README, f"ingest profile {name} is not documented in README.md"


def test_exit_codes_are_documented() -> None:
    section = README.split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |"):
        assert code in section


def test_the_two_commands_are_documented() -> None:
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    for target in ("run", "test", "load-nyc"):
        assert f"make {target}" in README
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no `{target}` target"
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "make test" in ci
