"""The README says what the code does: figures and names it quotes are checked here."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import yaml

from components.settings import load_schema
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_the_memory_total_quoted_is_the_sum_of_the_docker_limits() -> None:
    sizes = yaml.safe_load((ROOT / "configs" / "sizing.yaml").read_text())["docker"]
    quoted = re.search(r"Memory limits total ([\d.]+) GiB", README)
    assert quoted, "the README no longer quotes the dev stack's memory total"
    assert float(quoted.group(1)) == round(sum(sizes.values()) / 1024, 1)


def test_every_alert_is_in_the_readme_table(rendered: Callable[[str], Path]) -> None:
    names = set()
    for path in (rendered("dev") / "config" / "prometheus" / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {rule["alert"] for rule in group["rules"] if "alert" in rule}
    missing = sorted(n for n in names if n not in README)
    assert not missing, f"alerts missing from the README: {missing}"
    quoted = re.search(r"\*\*Alerts\.\*\* (\d+) alerts", README)
    assert quoted and int(quoted.group(1)) == len(names)


def test_every_make_target_the_readme_names_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    named = set(re.findall(r"`make ([a-z-]+)", README))
    assert named, "the README names no make target"
    assert named <= targets, f"README names make targets that do not exist: {sorted(named - targets)}"


def test_every_config_key_the_readme_names_is_declared() -> None:
    schema = load_schema()
    keys = set(re.findall(r"`([a-z]+[A-Z][A-Za-z]+)`", README))
    unknown = sorted(k for k in keys if k not in schema)  # camelCase in backticks: config keys
    assert not unknown, f"README names keys Pulumi.yaml does not declare: {unknown}"
