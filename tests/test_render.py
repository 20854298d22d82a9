"""The offline render (`make render`) of every committed stack, and the real upstream
validators on what it writes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from components.settings import check_image
from tests.conftest import ROOT, STACKS
from tools.mockrun import SENTINEL


def run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("stack", STACKS)
def test_render_writes_resources_and_every_config_file(rendered: Callable[[str], Path], stack: str) -> None:
    out = rendered(stack)
    resources = json.loads((out / "resources.json").read_text())
    assert resources and all({"type", "name", "parent", "inputs"} <= set(r) for r in resources)
    assert resources == sorted(resources, key=lambda r: (r["type"], r["name"]))
    if stack == "dev":
        for rel in (
            "prometheus/prometheus.yml", "prometheus/rules/vega.yml", "alertmanager/alertmanager.yml",
            "grafana/grafana.ini", "grafana/provisioning/datasources/datasources.yaml", "loki/config.yaml",
            "collector/promtail-config.yaml", "jaeger/config.yaml",
        ):
            assert (out / "config" / rel).is_file(), rel


@pytest.mark.parametrize("stack", STACKS)
def test_no_image_in_the_render_is_unpinned(rendered: Callable[[str], Path], stack: str) -> None:
    text = (rendered(stack) / "resources.json").read_text()
    refs = [r["inputs"]["name"] for r in json.loads(text) if r["type"] == "docker:index/remoteImage:RemoteImage"]
    for ref in refs:
        check_image(ref)
    assert ":latest" not in text


@pytest.mark.parametrize("stack", STACKS)
def test_no_secret_in_the_render(tmp_path: Path, stack: str) -> None:
    secrets = {
        "grafanaAdminPassword": "render-test-admin-password-value",
        "alertmanagerSlackApiUrl": "https://hooks.slack.com/services/T0/B0/render-test-slack-token",
    }
    from tools.render import render

    counts = render(stack, tmp_path, secrets)
    assert counts["secrets_masked"] >= 2
    for path in tmp_path.rglob("*"):
        if path.is_file():
            text = path.read_text()
            for value in secrets.values():
                assert value not in text, f"{path} leaks a secret"
            assert SENTINEL not in text
    slack = tmp_path / "config" / "alertmanager" / "secrets" / "slack_api_url"
    if stack == "dev":
        assert slack.read_text() == "[secret]"


def test_make_render_is_the_documented_command(tmp_path: Path) -> None:
    result = run(["make", "-s", "render", "STACK=dev", f"OUT={tmp_path / 'd'}", f"VENV={Path(sys.executable).parent.parent}"], cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "rendered stack dev" in result.stdout and "secret values masked" in result.stdout
    assert (tmp_path / "d" / "config" / "prometheus" / "prometheus.yml").is_file()


# ---- real validators


@pytest.mark.tool
@pytest.mark.parametrize("stack", STACKS)
def test_promtool_accepts_prometheus_config_with_its_rules(tool: Callable[[str], str], rendered: Callable[[str], Path], stack: str) -> None:
    promtool = tool("promtool")
    config = rendered(stack) / "config" / "prometheus" / "prometheus.yml"
    result = run([promtool, "check", "config", str(config)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    rule_files = sorted((config.parent / "rules").glob("*.yml"))
    assert rule_files
    # check config resolves rule_files relative to prometheus.yml: each rendered file is loaded
    for rule_file in rule_files:
        assert f"rules/{rule_file.name}" in result.stdout + result.stderr


@pytest.mark.tool
@pytest.mark.parametrize("stack", STACKS)
def test_promtool_accepts_every_rule_file(tool: Callable[[str], str], rendered: Callable[[str], Path], stack: str) -> None:
    promtool = tool("promtool")
    files = sorted((rendered(stack) / "config" / "prometheus" / "rules").glob("*.yml"))
    result = run([promtool, "check", "rules", *map(str, files)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.tool
@pytest.mark.parametrize("stack", STACKS)
def test_amtool_accepts_alertmanager_config(tool: Callable[[str], str], rendered: Callable[[str], Path], stack: str) -> None:
    amtool = tool("amtool")
    config = rendered(stack) / "config" / "alertmanager" / "alertmanager.yml"
    result = run([amtool, "check-config", str(config)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
