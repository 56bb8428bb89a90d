"""A value the command line cannot parse is named in the error, with why.

Before: typer (through pydantic) said only the why — ``Invalid value for '--lat': Input
should be a valid number, unable to parse string as a number`` — not what was typed, for
every number option and argument.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geo_discovery.cli import app


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["query", "nearby", "--lat", "north", "--lng", "1"], "'north': Input should be a valid"),
        (["query", "nearby", "--lat", "1", "--lng", "2", "-k", "1.5"], "'1.5': Input should be"),
        (["rollback", "--wait", "-3"], "'-3': Input should be greater than or equal to 0"),
        (["serve", "--port", "70000"], "'70000': Input should be less than or equal to 65535"),
        (["load", "x.csv", "--mode", "foo"], "'--mode': 'foo' is not one of 'replace'"),
    ],
)  # fmt: skip
def test_a_value_that_does_not_parse_is_named(args: list[str], named: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [*args, "--data-dir", str(tmp_path)], env={"COLUMNS": "400"})
    assert result.exit_code == 2
    text = " ".join(re.sub(r"[│╭╰─╮╯]", " ", result.output).split())
    assert named in text, text
