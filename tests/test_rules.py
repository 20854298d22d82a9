"""`promtool test rules` on the rendered rule files of every committed stack, and a check
that every alert and every recording rule has a test."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, STACKS

TESTS = ROOT / "tests" / "rules"


def rule_names(rules_dir: Path) -> tuple[set[str], set[str]]:
    alerts: set[str] = set()
    records: set[str] = set()
    for path in rules_dir.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                (alerts if "alert" in rule else records).add(rule.get("alert") or rule["record"])
    return alerts, records


def names_under_test() -> tuple[set[str], set[str], set[str]]:
    """Alert names with a firing case, alert names with a silent case, expressions tested."""
    firing: set[str] = set()
    silent: set[str] = set()
    exprs: set[str] = set()
    for path in TESTS.glob("*.test.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for test in case.get("alert_rule_test") or []:
                (firing if test.get("exp_alerts") else silent).add(test["alertname"])
            for test in case.get("promql_expr_test") or []:
                exprs.add(test["expr"])
    return firing, silent, exprs


@pytest.mark.tool
@pytest.mark.parametrize("stack", STACKS)
def test_promtool_rule_tests_pass(tool: Callable[[str], str], rendered: Callable[[str], Path], stack: str, tmp_path: Path) -> None:
    promtool = tool("promtool")
    work = tmp_path / "prometheus"
    shutil.copytree(rendered(stack) / "config" / "prometheus", work)
    files = sorted(TESTS.glob("*.test.yml"))
    assert files, "no rule tests"
    for test_file in files:
        shutil.copy(test_file, work / test_file.name)
    result = subprocess.run(
        [promtool, "test", "rules", *(f.name for f in files)], cwd=work, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("stack", STACKS)
def test_every_alert_fires_and_stays_silent_in_a_test(rendered: Callable[[str], Path], stack: str) -> None:
    alerts, _ = rule_names(rendered(stack) / "config" / "prometheus" / "rules")
    firing, silent, _ = names_under_test()
    assert alerts, "no alert rules rendered"
    assert not alerts - firing, f"alerts never tested firing: {sorted(alerts - firing)}"
    assert not alerts - silent, f"alerts never tested silent: {sorted(alerts - silent)}"


@pytest.mark.parametrize("stack", STACKS)
def test_every_recording_rule_has_an_expression_test(rendered: Callable[[str], Path], stack: str) -> None:
    _, records = rule_names(rendered(stack) / "config" / "prometheus" / "rules")
    _, _, exprs = names_under_test()
    untested = {r for r in records if not any(r in e for e in exprs)}
    assert not untested, f"recording rules without a promql_expr_test: {sorted(untested)}"


def test_every_rule_test_file_names_rule_files_that_exist(rendered: Callable[[str], Path]) -> None:
    rules = rendered("dev") / "config" / "prometheus"
    for path in TESTS.glob("*.test.yml"):
        for rule_file in yaml.safe_load(path.read_text())["rule_files"]:
            assert (rules / rule_file).is_file(), f"{path.name}: {rule_file} is not rendered"
