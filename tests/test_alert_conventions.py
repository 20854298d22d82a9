"""Conventions every alert keeps, shipped or added (monitoring-mixins style), checked on the rule
files present as rendered: CamelCase names, a severity of critical|warning|info, summary, description
and a runbook_url whose anchor exists in docs/runbooks.md, a `for:`; and the thresholds file:
every threshold commented and used by a rule (not just mentioned in a comment)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.content import files_under
from components.prometheus import config
from components.settings import SEVERITIES, ConfigError, configs_dir, load_schema, parse_duration
from tests.conftest import ROOT
from tools.scaffold import ALERT_NAME, PLACEHOLDER, placeholders_left

RUNBOOK_BASE = str(load_schema()["runbookBaseUrl"].default)
RUNBOOKS = ROOT / "docs" / "runbooks.md"
RULES_DIR = configs_dir() / "prometheus" / "rules"
THRESHOLDS = configs_dir() / "prometheus" / "thresholds.yaml"
SECTION_PARTS = ("**Meaning.**", "**Impact.**", "**First checks.**", "**Remedies.**")


@dataclass(frozen=True)
class Alert:
    file: str
    group: str
    rule: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.rule["alert"])

    def __str__(self) -> str:
        return f"{self.name}/{self.rule.get('labels', {}).get('severity')}"


def rendered_alerts() -> list[Alert]:
    """Every alerting rule of the rendered rule files (thresholds filled, SLO rules generated)."""
    out = []
    for name, text in sorted(config.rule_files(RUNBOOK_BASE).items()):
        for group in yaml.safe_load(text)["groups"]:
            out += [Alert(name, group["name"], rule) for rule in group["rules"] if "alert" in rule]
    return out


ALERTS = rendered_alerts()


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def runbook_sections() -> dict[str, str]:
    """{anchor: body} of the `## ` sections of docs/runbooks.md."""
    parts = re.split(r"^## (.+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    return {github_anchor(title): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_every_rule_file_present_is_rendered_and_there_are_alerts() -> None:
    present = set(files_under("prometheus/rules", "*.yml"))
    assert present, f"no rule files in {RULES_DIR}"
    assert present <= set(config.rule_files(RUNBOOK_BASE)), "a rule file is not rendered"
    assert ALERTS, "no alerting rules: the checks below would check nothing"


def test_nothing_the_scaffold_left_to_write_is_left() -> None:
    files = [*RULES_DIR.glob("*.yml"), *(ROOT / "tests" / "rules").glob("*.test.yml"), RUNBOOKS]
    left = placeholders_left(files)
    assert not left, f"write the parts marked {PLACEHOLDER!r} (then `make docs`): " + ", ".join(left)


@pytest.mark.parametrize("alert", ALERTS, ids=str)
def test_alert_follows_the_conventions(alert: Alert) -> None:
    rule = alert.rule
    assert ALERT_NAME.fullmatch(alert.name), f"{alert.name}: not CamelCase"
    assert alert.group.endswith(".rules"), f"{alert.group}: groups with alerts are named <area>.rules"
    assert rule.get("labels", {}).get("severity") in SEVERITIES, f"{alert}: severity must be one of {SEVERITIES}"
    annotations = rule.get("annotations", {})
    for key in ("summary", "description", "runbook_url"):
        assert str(annotations.get(key, "")).strip(), f"{alert}: missing {key} annotation"
    assert annotations["runbook_url"] == f"{RUNBOOK_BASE}#{alert.name.lower()}"
    assert "for" in rule and parse_duration(str(rule["for"])) > 0, f"{alert}: needs a `for:`"
    for text in (rule["expr"], *annotations.values()):
        assert "${" not in str(text), f"{alert}: unfilled placeholder in {text!r}"


@pytest.mark.parametrize("alert", ALERTS, ids=str)
def test_runbook_section_exists_and_is_complete(alert: Alert) -> None:
    sections = runbook_sections()
    anchor = alert.name.lower()
    assert anchor in sections, f"docs/runbooks.md has no section '## {alert.name}'"
    body = sections[anchor]
    for part in SECTION_PARTS:
        assert part in body, f"runbook of {alert.name}: missing {part}"
    assert re.search(r"```bash\n.*?(promql|logql|curl|docker|amtool) ", body, flags=re.DOTALL), (
        f"runbook of {alert.name}: first checks need concrete commands"
    )


def test_every_runbook_section_belongs_to_an_alert() -> None:
    names = {a.name.lower() for a in ALERTS}
    assert set(runbook_sections()) == names


def test_one_alert_name_means_one_condition_per_severity() -> None:
    seen: dict[str, list[Alert]] = {}
    for alert in ALERTS:
        seen.setdefault(alert.name, []).append(alert)
    for name, rules in seen.items():
        severities = [a.rule["labels"]["severity"] for a in rules]
        assert len(severities) == len(set(severities)), f"{name}: two rules with the same severity"
        assert len({(a.file, a.group) for a in rules}) == 1, f"{name}: defined in more than one group"


# ---- thresholds.yaml


def threshold_lines() -> list[tuple[int, str]]:
    lines = THRESHOLDS.read_text().splitlines()
    return [(i, line) for i, line in enumerate(lines) if re.match(r"^[a-z_0-9]+:", line)]


def test_every_threshold_is_commented() -> None:
    lines = THRESHOLDS.read_text().splitlines()
    for i, line in threshold_lines():
        if "#" in line:
            continue
        # a block of keys shares the comment above its first key
        j = i
        while j > 0 and re.match(r"^[a-z_0-9]+:", lines[j - 1]):
            j -= 1
        assert j > 0 and lines[j - 1].startswith("#"), f"thresholds.yaml line {i + 1}: {line!r} has no comment"


def test_every_threshold_is_used_in_rule_text_not_only_in_comments() -> None:
    used: set[str] = set()
    for path in RULES_DIR.glob("*.yml"):
        for line in path.read_text().splitlines():
            if not line.lstrip().startswith("#"):
                used |= set(re.findall(r"\$\{([a-z_0-9]+)\}", line))
    names = set(yaml.safe_load(THRESHOLDS.read_text()))
    assert names <= used, f"thresholds only mentioned in comments or unused: {sorted(names - used)}"


def test_an_unused_threshold_is_refused(configs_copy: Path) -> None:
    path = configs_copy / "prometheus" / "thresholds.yaml"
    path.write_text(path.read_text() + "# nobody reads this one\nforgotten_threshold: 3\n")
    with pytest.raises(ConfigError, match="forgotten_threshold not used by any rule"):
        config.rule_files(RUNBOOK_BASE)


def test_an_unknown_placeholder_is_refused(configs_copy: Path) -> None:
    path = configs_copy / "prometheus" / "rules" / "probe.yml"
    path.write_text("groups:\n  - name: probe.rules\n    rules:\n      - record: probe:x\n        expr: vector(${not_a_threshold})\n")
    with pytest.raises(ConfigError, match=r"probe\.yml: unknown placeholder"):
        config.rule_files(RUNBOOK_BASE)


# ---- the per-job sample limits the cardinality guard compares against


def sample_limits_expr() -> str:
    return str(next(a.rule["expr"] for a in ALERTS if a.name == "ScrapeSamplesNearLimit"))


def test_sample_limits_mirror_limits_yaml() -> None:
    expr = sample_limits_expr()
    table = config.limits()
    for job, body in table.items():
        if job == "__default__":
            assert f"(max by (job) (up) * 0 + {body['sample_limit']})" in expr
        else:
            assert f'label_replace(vector({body["sample_limit"]}), "job", "{job}", "", "")' in expr


def test_a_jobs_own_sample_limit_wins(configs_copy: Path) -> None:
    extra = configs_copy / "prometheus" / "scrape_configs" / "postgres.yml"
    extra.write_text(
        "scrape_configs:\n"
        "  - job_name: postgres\n"
        "    sample_limit: 7000\n"
        "    static_configs: [{targets: ['postgres-exporter:9187']}]\n"
    )
    limits = configs_copy / "prometheus" / "limits.yaml"
    doc = yaml.safe_load(limits.read_text())
    doc.setdefault("jobs", {}).setdefault("vega-api", {})["sample_limit"] = 60000
    limits.write_text(yaml.safe_dump(doc))
    text = config.rule_files(RUNBOOK_BASE)["alerts-stack.yml"]
    assert 'label_replace(vector(7000), "job", "postgres", "", "")' in text
    assert 'label_replace(vector(60000), "job", "vega-api", "", "")' in text
