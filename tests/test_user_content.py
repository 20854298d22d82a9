"""The user's own content is first-class: the alert scaffold (`make new-alert`), and a fresh
copy of the repository with one scrape job, one alert and one dashboard of its own on which
the whole non-live suite must pass."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from components.prometheus import config
from components.settings import ConfigError
from tests.conftest import ROOT
from tools import docs, scaffold

VENV = Path(sys.executable).parent.parent
# A fresh clone has none of these; the tools and environments are linked in, not copied.
NOT_CLONED = {".git", ".venv", ".venv-checkov", ".tools", "build", ".pulumi-state", ".mypy_cache", ".ruff_cache",
              ".pytest_cache", "__pycache__"}
LINKED = (".venv", ".venv-checkov", ".tools")

USER_JOB = "custom-service"
USER_ALERT = "CustomServiceDown"
USER_DASHBOARD_UID = "custom-service"


# ---- the scaffold, on a private copy of configs/ and of the docs


@pytest.fixture
def scaffold_copy(configs_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The scaffold writing into tmp_path: configs (VEGA_CONFIGS_DIR), README, runbooks, tests/rules."""
    for source in (docs.README, docs.RUNBOOKS):
        shutil.copy(source, tmp_path / source.name)
    shutil.copytree(scaffold.TESTS_DIR, tmp_path / "rules")
    monkeypatch.setattr(docs, "README", tmp_path / "README.md")
    monkeypatch.setattr(docs, "RUNBOOKS", tmp_path / "runbooks.md")
    monkeypatch.setattr(scaffold, "TESTS_DIR", tmp_path / "rules")
    yield tmp_path


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_scaffold_refuses_a_bad_name_and_severity_at_once(scaffold_copy: Path) -> None:
    before = snapshot(scaffold_copy)
    with pytest.raises(ConfigError) as error:
        scaffold.new_alert("queue_backlog", "page")
    assert error.value.problems == [
        "NAME 'queue_backlog' is not allowed: alert names are CamelCase, e.g. QueueBacklogHigh",
        "SEVERITY 'page' is not allowed; allowed are critical, warning, info",
    ]
    assert snapshot(scaffold_copy) == before


def test_the_scaffold_refuses_a_name_that_exists(scaffold_copy: Path) -> None:
    taken = docs.alerts()[0].name
    with pytest.raises(ConfigError, match=f"NAME '{taken}' is not allowed: an alert or runbook section of that name exists"):
        scaffold.new_alert(taken, "warning")


def test_the_scaffold_writes_the_rule_the_runbook_section_and_the_test(scaffold_copy: Path, configs_copy: Path) -> None:
    written = scaffold.new_alert("QueueBacklogHigh", "critical")
    rules = yaml.safe_load(config.rule_files(docs.runbook_base())[scaffold.RULE_FILE])
    rule = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "QueueBacklogHigh")
    assert rules["groups"][-1]["name"] == scaffold.GROUP
    assert rule["labels"] == {"severity": "critical"}
    assert rule["annotations"]["runbook_url"] == f"{docs.runbook_base()}#queuebackloghigh"
    runbook = (scaffold_copy / "runbooks.md").read_text()
    section = runbook.split("## QueueBacklogHigh\n", 1)[1]
    for part in ("**Meaning.**", "**Impact.**", "**First checks.**", "**Remedies.**"):
        assert part in section
    cases = yaml.safe_load((scaffold_copy / "rules" / scaffold.TEST_FILE).read_text())["tests"]
    checks = [t for case in cases for t in case["alert_rule_test"] if t["alertname"] == "QueueBacklogHigh"]
    assert [bool(t["exp_alerts"]) for t in checks] == [False, True], "a silent and a firing case"
    assert "| [QueueBacklogHigh](docs/runbooks.md#queuebackloghigh) | critical |" in (scaffold_copy / "README.md").read_text()
    assert "| [QueueBacklogHigh](#queuebackloghigh) | critical | `custom.rules` |" in runbook
    # what only a person can write is marked, in each of the three files
    left = scaffold.placeholders_left(written[:3])
    assert {entry.rsplit(":", 1)[0] for entry in left} == {str(p) for p in written[:3]}
    # a second alert joins the same group and test file
    scaffold.new_alert("QueueStuck", "info")
    rules = yaml.safe_load((configs_copy / "prometheus" / "rules" / scaffold.RULE_FILE).read_text())
    assert [r["alert"] for r in rules["groups"][-1]["rules"]] == ["QueueBacklogHigh", "QueueStuck"]


def test_a_failed_scaffold_changes_nothing(scaffold_copy: Path, configs_copy: Path) -> None:
    broken = configs_copy / "prometheus" / "thresholds.yaml"
    broken.write_text(broken.read_text() + "# nobody reads this one\nforgotten_threshold: 3\n")
    before = {**snapshot(scaffold_copy), **snapshot(configs_copy)}
    with pytest.raises(ConfigError, match="forgotten_threshold not used by any rule"):
        scaffold.new_alert("QueueBacklogHigh", "warning")
    assert {**snapshot(scaffold_copy), **snapshot(configs_copy)} == before


def test_make_new_alert_reports_a_bad_name_without_a_traceback() -> None:
    done = subprocess.run(
        ["make", "-s", "new-alert", "NAME=lower_case", "SEVERITY=warning", f"VENV={VENV}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode != 0
    assert "new-alert: NAME 'lower_case' is not allowed: alert names are CamelCase" in done.stderr
    assert "Traceback" not in done.stderr


# ---- a fresh clone with the user's own content, under the whole non-live suite


def fresh_clone(into: Path) -> Path:
    """The repository's files as a clone has them; the tools and environments linked in."""
    repo = into / "repo"
    shutil.copytree(ROOT, repo, ignore=lambda _dir, names: [n for n in names if n in NOT_CLONED])
    for name in LINKED:
        if (ROOT / name).exists():
            (repo / name).symlink_to(ROOT / name)
    return repo


def add_scrape_job(repo: Path) -> None:
    """The job exactly as configs/prometheus/scrape_configs/README.md shows it."""
    folder = repo / "configs" / "prometheus" / "scrape_configs"
    example = re.search(r"```yaml\n(.*?)```", (folder / "README.md").read_text(), flags=re.DOTALL)
    assert example, "the scrape_configs README shows no example"
    assert [job["job_name"] for job in yaml.safe_load(example.group(1))["scrape_configs"]] == [USER_JOB]
    (folder / f"{USER_JOB}.yml").write_text(example.group(1))


def run_make(repo: Path, *args: str) -> None:
    done = subprocess.run(["make", "-s", *args, f"VENV={VENV}"], cwd=repo, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"make {' '.join(args)}:\n{done.stdout}{done.stderr}"


def add_alert(repo: Path) -> None:
    """`make new-alert`, then the parts a person writes, then `make docs`."""
    run_make(repo, "new-alert", f"NAME={USER_ALERT}", "SEVERITY=warning")
    rules = repo / "configs" / "prometheus" / "rules" / scaffold.RULE_FILE
    text = rules.read_text()
    text = re.sub(r" *# FILL IN: the condition.*\n", "", text)
    text = text.replace("expr: vector(1) == 0", f'expr: up{{job="{USER_JOB}"}} == 0')
    text = text.replace('"FILL IN: one line, what is wrong"', "The custom service is down")
    text = re.sub(r"FILL IN: what is wrong where.*\n.*\n", "{{ $labels.instance }} has failed every scrape for 5m.\n", text)
    rules.write_text(text)
    runbooks = repo / "docs" / "runbooks.md"
    runbooks.write_text(re.sub(r"FILL IN: [^\n]*", "Written by the operator of this installation.", runbooks.read_text()))
    test = repo / "tests" / "rules" / scaffold.TEST_FILE
    test.write_text(test.read_text().split("tests:\n", 1)[0] + f"""tests:
  - interval: 1m
    input_series:
      - series: 'up{{job="{USER_JOB}", instance="service:9000"}}'
        values: '1 1 0x20'
    alert_rule_test:
      - eval_time: 4m
        alertname: {USER_ALERT}
        exp_alerts: []
      - eval_time: 10m
        alertname: {USER_ALERT}
        exp_alerts:
          - exp_labels:
              severity: warning
              job: {USER_JOB}
              instance: service:9000
            exp_annotations:
              summary: The custom service is down
              description: service:9000 has failed every scrape for 5m.
              runbook_url: {docs.runbook_base()}#{USER_ALERT.lower()}
""")
    run_make(repo, "docs")


def add_dashboard(repo: Path) -> None:
    dashboard = {
        "uid": USER_DASHBOARD_UID,
        "title": "Custom service",
        "schemaVersion": 41,
        "refresh": "10s",
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {"refresh_intervals": ["5s", "10s", "30s", "1m", "5m"]},
        "panels": [
            {
                "id": 1,
                "type": "timeseries",
                "title": "Custom service up",
                "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8},
                "datasource": {"type": "prometheus", "uid": "vega-prometheus"},
                "targets": [
                    {
                        "refId": "A",
                        "datasource": {"type": "prometheus", "uid": "vega-prometheus"},
                        "expr": f'up{{job="{USER_JOB}"}}',
                    }
                ],
            }
        ],
    }
    path = repo / "configs" / "grafana" / "dashboards" / f"{USER_DASHBOARD_UID}.json"
    path.write_text(json.dumps(dashboard, indent=2, sort_keys=True) + "\n")


@pytest.mark.slow
@pytest.mark.timeout(1900)  # the suite's own 300 s per test is too short for the whole suite
def test_a_fresh_clone_with_a_job_an_alert_and_a_dashboard_of_its_own_passes_the_suite(tmp_path: Path) -> None:
    """Slow on purpose (the whole non-live suite again): the README's customisation steps, run
    on a copy, must leave `make test` green; each addition must really be seen by the tests."""
    repo = fresh_clone(tmp_path)
    add_scrape_job(repo)
    add_alert(repo)
    add_dashboard(repo)
    report = tmp_path / "report.xml"
    env = {**os.environ, "VEGA_CONFIGS_DIR": str(repo / "configs")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "not live", "-p", "no:cacheprovider", "-q",
         "--ignore=tests/test_user_content.py", f"--junitxml={report}"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=1800,
    )
    summary = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert done.returncode == 0, "\n".join([*summary, *done.stdout.splitlines()[-1:], done.stderr[-2000:]])
    cases = [f"{c.get('classname')}::{c.get('name')}" for c in ET.parse(report).getroot().iter("testcase")]
    passed = [c for c in ET.parse(report).getroot().iter("testcase") if not list(c)]
    names = " ".join(f"{c.get('name')}" for c in passed)
    assert f"test_alert_follows_the_conventions[{USER_ALERT}/warning]" in names, "the user's alert was not checked"
    assert f"test_runbook_section_exists_and_is_complete[{USER_ALERT}/warning]" in names
    assert len(cases) > 100, f"only {len(cases)} tests ran"
    rendered = subprocess.run(
        [sys.executable, "-m", "tools.render", "--stack", "dev", "--out", str(tmp_path / "render")],
        cwd=repo, env=env, capture_output=True, text=True, timeout=300,
    )
    assert rendered.returncode == 0, rendered.stderr
    prometheus = yaml.safe_load((tmp_path / "render" / "config" / "prometheus" / "prometheus.yml").read_text())
    assert USER_JOB in [job["job_name"] for job in prometheus["scrape_configs"]], "the user's job was not rendered"
    provisioned = list((tmp_path / "render" / "config" / "grafana").rglob(f"{USER_DASHBOARD_UID}.json"))
    assert provisioned, "the user's dashboard was not provisioned"


def test_no_test_reads_the_repositorys_configs_instead_of_the_content_in_use() -> None:
    """Tests read configs/ through configs_dir() (VEGA_CONFIGS_DIR when set), so the run above
    checks the user's content and a test can point the whole suite at another copy."""
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"ROOT\s*/\s*[\"']configs[\"']", line)
    ]
    assert not offenders, "read configs/ through components.settings.configs_dir(), not from the repository root: " + ", ".join(offenders)
