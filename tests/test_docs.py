"""The README says what the code does: figures and names it quotes are checked here."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import yaml

from components.settings import configs_dir, load_schema
from tests.conftest import ROOT
from tools import docs

README = (ROOT / "README.md").read_text()


def test_the_memory_total_quoted_is_the_sum_of_the_docker_limits() -> None:
    sizes = yaml.safe_load((configs_dir() / "sizing.yaml").read_text())["docker"]
    quoted = re.search(r"Memory limits total ([\d.]+) GiB", README)
    assert quoted, "the README no longer quotes the dev stack's memory total"
    assert float(quoted.group(1)) == round(sum(sizes.values()) / 1024, 1)


def test_the_tables_of_alerts_are_generated_from_the_rule_files_present() -> None:
    outdated = docs.stale()
    assert not outdated, f"{', '.join(outdated)}: the table of alerts is out of date; run `make docs` ({docs.COMMAND})"


def test_the_readme_table_lists_every_rendered_alert_once(rendered: Callable[[str], Path]) -> None:
    names = set()
    for path in (rendered("dev") / "config" / "prometheus" / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {rule["alert"] for rule in group["rules"] if "alert" in rule}
    begin, end = README.index("<!-- begin alerts"), README.index("<!-- end alerts -->")
    rows = re.findall(r"^\| \[(\w+)\]\(docs/runbooks\.md#(\w+)\)", README[begin:end], flags=re.MULTILINE)
    assert sorted(name for name, _ in rows) == sorted(names)
    assert all(anchor == name.lower() for name, anchor in rows)
    assert f"{len(names)} alerts, from the rule files" in README[begin:end]


def test_a_changed_summary_makes_the_tables_stale(configs_copy: Path) -> None:
    rules = next(iter(sorted((configs_copy / "prometheus" / "rules").glob("*.yml"))))
    text = rules.read_text()
    changed = re.sub(r"(summary: )(.+)", r"\1Rewritten by a test", text, count=1)
    assert changed != text, f"{rules.name} has no summary to change"
    rules.write_text(changed)
    assert docs.stale() == ["README.md"]


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
