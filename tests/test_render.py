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


# Odd secret values: empty (which matches between every two characters), shorter than the
# searched minimum, part of the marker itself, and values with quotes, newlines and non-ASCII.
ODD_SECRETS = {
    "": "alertmanagerWebhookToken",
    "ab": "alertmanagerWebhookToken",
    "secret": "alertmanagerWebhookToken",
    "it's a \"quoted\"\nline — ünïcode $HOME ${x} [secret]": "alertmanagerWebhookToken",
}


@pytest.mark.parametrize("value", list(ODD_SECRETS), ids=["empty", "short", "inside-the-marker", "quotes-newline-unicode"])
def test_render_survives_odd_secret_values(tmp_path: Path, value: str) -> None:
    from tools.mockrun import MIN_SEARCHED_SECRET
    from tools.render import render

    overrides = {"alertmanagerWebhookUrl": "https://hooks.example.org/vega", "alertmanagerWebhookToken": value}
    counts = render("dev", tmp_path / "out", overrides)
    token = tmp_path / "out" / "config" / "alertmanager" / "secrets" / "webhook_token"
    if value:  # an empty token means no token: no file
        assert token.read_text() == "[secret]", "the secret file is masked whatever its value"
    texts = [p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert not any("[secret][secret]" in t or "][secret]e[secret]" in t for t in texts), "marker inserted between characters"
    assert all(len(p.name) < 100 for p in (tmp_path / "out").rglob("*")), "a masked value leaked into a file name"
    if len(value) >= MIN_SEARCHED_SECRET:
        assert all(value not in t.replace("[secret]", "\0") for t in texts)
        assert counts["secrets_not_searched"] == []
    else:
        assert counts["secrets_not_searched"] == ["alertmanagerWebhookToken"]


def test_mask_replaces_the_longest_secret_first_in_one_pass() -> None:
    from tools.mockrun import mask

    secrets = {"abcd": "a", "abcdefgh": "b", "cret": "c", "": "d"}
    assert mask("x abcdefgh y abcd z", secrets) == "x [secret] y [secret] z"
    assert mask("x abcd", secrets) == "x [secret]"  # the marker, which holds "cret", is not searched again
    assert mask({"k": ["nothing to hide"]}, secrets) == {"k": ["nothing to hide"]}


def test_a_failed_render_leaves_the_previous_output_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tools import render as render_module

    out = tmp_path / "out"
    render_module.render("dev", out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    written = 0
    real_write_text = Path.write_text

    def failing_write_text(self: Path, *args: Any, **kwargs: Any) -> int:
        nonlocal written
        written += 1
        if written == 5:  # in the middle of the output
            raise OSError(28, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing_write_text)
    with pytest.raises(OSError, match="No space left"):
        render_module.render("dev", out, {"prometheusRetentionTime": "7d"})
    monkeypatch.undo()
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before, "the previous render must stay as it was"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "no temporary directory may be left behind"


def test_a_render_replaces_the_previous_output_whole(tmp_path: Path) -> None:
    from tools.render import render

    out = tmp_path / "out"
    (out / "stale").mkdir(parents=True)
    (out / "stale" / "file.txt").write_text("from an older render\n")
    render("dev", out)
    assert not (out / "stale").exists(), "files of an older render must not survive"
    assert (out / "resources.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_make_render_is_the_documented_command(tmp_path: Path) -> None:
    result = run(["make", "-s", "render", "STACK=dev", f"OUT={tmp_path / 'd'}", f"VENV={Path(sys.executable).parent.parent}"], cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "rendered stack dev" in result.stdout and "secret values masked" in result.stdout
    assert (tmp_path / "d" / "config" / "prometheus" / "prometheus.yml").is_file()


# ---- real validators


# promtool (3.5 and later, Debian's build included) parses `kubernetes_sd_configs` with
# Prometheus' own schema: unknown keys and roles are refused. The prod config is checked as
# rendered; only the files that exist inside the pod alone are stood in for.


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


def stand_in_pod_files(config: Path, out: Path) -> list[dict[str, Any]]:
    """Write `config` to `out` with pod-only files stood in for, everything else as rendered;
    return the config's kubernetes_sd_configs blocks."""
    doc = yaml.safe_load(config.read_text())
    _stand_in_files(doc, out.parent / "pod-files")
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    return [block for job in doc.get("scrape_configs") or [] for block in job.get("kubernetes_sd_configs") or []]


@pytest.mark.tool
@pytest.mark.parametrize("stack", STACKS)
def test_promtool_accepts_prometheus_config_with_its_rules(tool: Callable[[str], str], rendered: Callable[[str], Path], stack: str, tmp_path: Path) -> None:
    promtool = tool("promtool")
    source = rendered(stack) / "config" / "prometheus"
    shutil.copytree(source, tmp_path / "prometheus")
    config = tmp_path / "prometheus" / "prometheus.yml"
    blocks = stand_in_pod_files(source / "prometheus.yml", config)
    assert bool(blocks) == (stack == "prod"), "only the kubernetes platform discovers targets"
    result = run([promtool, "check", "config", str(config)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    rule_files = sorted((config.parent / "rules").glob("*.yml"))
    assert rule_files
    # check config resolves rule_files relative to prometheus.yml: each rendered file is loaded
    for rule_file in rule_files:
        assert f"rules/{rule_file.name}" in result.stdout + result.stderr


def test_the_pod_file_stand_ins_keep_everything_else(tmp_path: Path) -> None:
    source = tmp_path / "in.yml"
    job = {"job_name": "a", "kubernetes_sd_configs": [{"role": "pod"}], "relabel_configs": [{"action": "keep", "regex": "x"}]}
    source.write_text(yaml.safe_dump({"scrape_configs": [{**job, "authorization": {"credentials_file": "/var/run/token"}}]}))
    blocks = stand_in_pod_files(source, tmp_path / "out.yml")
    out = yaml.safe_load((tmp_path / "out.yml").read_text())["scrape_configs"][0]
    assert blocks == [{"role": "pod"}]
    assert out.pop("authorization") == {"credentials_file": str(tmp_path / "pod-files" / "var/run/token")}
    assert out == job


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
