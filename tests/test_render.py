"""The offline render (`make render`) of every committed stack, and the real upstream
validators on what it writes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

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


# Debian's promtool 2.42 is built without Kubernetes service discovery: it rejects the key
# `kubernetes_sd_configs` outright. The prod config is therefore checked with each of those
# blocks swapped for a static target (everything else, relabelling included, exactly as
# rendered), and the swapped blocks are checked against the upstream schema below.
KUBERNETES_SD_KEYS = {"role", "namespaces", "selectors", "api_server", "kubeconfig_file", "attach_metadata"}
KUBERNETES_SD_ROLES = {"node", "service", "pod", "endpoints", "endpointslice", "ingress"}


def _stand_in_files(node: Any, root: Path) -> None:
    """Point every `*_file` path that exists only inside the pod (service-account token,
    secrets, certificates) at a local stand-in, so promtool's existence checks can run."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("_file") and isinstance(value, str) and value.startswith("/"):
                local = root / value.lstrip("/")
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_text("stand-in\n")
                node[key] = str(local)
            else:
                _stand_in_files(value, root)
    elif isinstance(node, list):
        for item in node:
            _stand_in_files(item, root)


def swap_kubernetes_sd(config: Path, out: Path) -> list[dict[str, Any]]:
    """Write `config` to `out` with kubernetes_sd_configs replaced (and pod-only files
    stood in for); return the swapped blocks."""
    doc = yaml.safe_load(config.read_text())
    _stand_in_files(doc, out.parent / "pod-files")
    blocks: list[dict[str, Any]] = []
    for job in doc.get("scrape_configs") or []:
        sd = job.pop("kubernetes_sd_configs", None)
        if sd is not None:
            blocks += sd
            job.setdefault("static_configs", []).append({"targets": ["kubernetes-sd.invalid:443"]})
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return blocks


@pytest.mark.tool
@pytest.mark.parametrize("stack", STACKS)
def test_promtool_accepts_prometheus_config_with_its_rules(tool: Callable[[str], str], rendered: Callable[[str], Path], stack: str, tmp_path: Path) -> None:
    promtool = tool("promtool")
    source = rendered(stack) / "config" / "prometheus"
    shutil.copytree(source, tmp_path / "prometheus")
    config = tmp_path / "prometheus" / "prometheus.yml"
    blocks = swap_kubernetes_sd(source / "prometheus.yml", config)
    for block in blocks:
        assert set(block) <= KUBERNETES_SD_KEYS, block
        assert block["role"] in KUBERNETES_SD_ROLES, block
        assert set(block.get("namespaces") or {}) <= {"names", "own_namespace"}, block
    assert bool(blocks) == (stack == "prod"), "only the kubernetes platform discovers targets"
    result = run([promtool, "check", "config", str(config)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    rule_files = sorted((config.parent / "rules").glob("*.yml"))
    assert rule_files
    # check config resolves rule_files relative to prometheus.yml: each rendered file is loaded
    for rule_file in rule_files:
        assert f"rules/{rule_file.name}" in result.stdout + result.stderr


def test_the_kubernetes_sd_swap_keeps_everything_else(tmp_path: Path) -> None:
    source = tmp_path / "in.yml"
    source.write_text(yaml.safe_dump({"scrape_configs": [
        {"job_name": "a", "kubernetes_sd_configs": [{"role": "pod"}], "relabel_configs": [{"action": "keep", "regex": "x"}]},
        {"job_name": "b", "static_configs": [{"targets": ["b:1"]}]},
    ]}))
    blocks = swap_kubernetes_sd(source, tmp_path / "out.yml")
    out = yaml.safe_load((tmp_path / "out.yml").read_text())
    assert blocks == [{"role": "pod"}]
    assert out["scrape_configs"][0]["relabel_configs"] == [{"action": "keep", "regex": "x"}]
    assert out["scrape_configs"][0]["static_configs"] == [{"targets": ["kubernetes-sd.invalid:443"]}]
    assert out["scrape_configs"][1] == {"job_name": "b", "static_configs": [{"targets": ["b:1"]}]}


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
