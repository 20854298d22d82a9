"""The GitHub workflow: tests on every push and pull request, a preview only where its secrets
exist, actions pinned by commit, no secret pasted into a shell script, no stack created."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "preview.yml"


def load(path: Path = WORKFLOW) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def steps(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job, step) for job, body in doc["jobs"].items() for step in body.get("steps") or []]


def test_tests_run_on_every_push_and_pull_request() -> None:
    doc = load()
    assert {"push", "pull_request"} <= set(doc["on"])
    runs = [step.get("run", "") for job, step in steps(doc) if job == "test"]
    assert any(".ci/run" in run or "make test" in run for run in runs)
    assert "needs" not in doc["jobs"]["test"], "the tests run first, on their own"


def test_every_action_is_pinned_by_commit() -> None:
    used = [step["uses"] for _, step in steps(load()) if "uses" in step]
    assert used
    for ref in used:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), f"{ref}: pin actions by their full commit SHA"


def interpolated_scripts(doc: dict[str, Any]) -> list[str]:
    """Jobs with a `run:` script that GitHub would expand an expression into."""
    return [job for job, step in steps(doc) if "${{" in step.get("run", "")]


def test_no_secret_is_interpolated_into_a_shell_script() -> None:
    assert not interpolated_scripts(load()), "pass values to `run:` through env:, not ${{ }}"


def test_the_preview_runs_only_where_its_secrets_exist_and_creates_no_stack() -> None:
    doc = load()
    preview = doc["jobs"]["preview"]
    assert set(preview["needs"]) >= {"test"}
    checked = [s for s in preview["steps"] if s.get("id") == "ready"]
    assert checked and "::notice" in checked[0]["run"], "a skipped preview says so"
    after = preview["steps"][preview["steps"].index(checked[0]) + 1 :]
    assert all(s.get("if") == "steps.ready.outputs.run == 'true'" for s in after), "every later step is guarded"
    for _, step in steps(doc):
        assert str((step.get("with") or {}).get("upsert", "false")).lower() == "false", "no stack is created in CI"
    assert "stack init" not in WORKFLOW.read_text()


def test_a_guard_that_would_fail_on_github_is_caught(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(WORKFLOW.read_text().replace('run: bash .ci/run', 'run: echo "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"'))
    assert interpolated_scripts(load(bad)) == ["test"]
