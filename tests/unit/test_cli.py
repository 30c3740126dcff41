"""The orchard command line's flags that become template parameters of the local stack."""

from __future__ import annotations

import pytest

from orchard.cli import command_line, retention_parameters


@pytest.mark.parametrize("command", [["demo"], ["upload", "images"]])
def test_retention_flags_become_template_parameters(command):
    given = command_line().parse_args([*command, "--retain-runs", "5", "--retain-days", "7"])
    assert retention_parameters(given) == {"RetainRuns": "5", "RetainDays": "7"}
    assert retention_parameters(command_line().parse_args(command)) == {}  # the stack's own values


@pytest.mark.parametrize("flag", [["--retain-runs", "1"], ["--retain-days", "0"], ["--retain-runs", "2.5"]])
def test_retention_flags_below_the_templates_minimum_are_refused(flag, capsys):
    with pytest.raises(SystemExit):
        command_line().parse_args(["demo", *flag])
    assert "at least" in capsys.readouterr().err
