"""The dev stack under Pulumi mocks: the real __main__.py, every resource it declares, and
the inputs that make the stack work on the first `pulumi up`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.endpoints import DATASOURCE_UIDS
from components.settings import check_image
from tools.mockrun import Resource, Run, run_program, unwrap

CONTAINER = "docker:index/container:Container"
SERVICES = {
    "prometheus", "alertmanager", "grafana", "loki", "collector", "jaeger", "node-exporter", "cadvisor",
    "vega-api", "vega-coordinator",  # the demo Vega (`demo`, on by default on dev)
}


def containers(run: Run) -> dict[str, Resource]:
    out = {}
    for c in run.of_type(CONTAINER):
        labels = {i["label"]: i["value"] for i in unwrap(c.inputs["labels"])}
        out[labels["org.vega.observability.service"]] = c
    return out


def uploads(container: Resource) -> dict[str, str]:
    return {u["file"]: u.get("content", "") for u in unwrap(container.inputs.get("uploads") or [])}


def test_every_service_runs_in_its_own_component(dev_run: Run) -> None:
    assert set(containers(dev_run)) == SERVICES
    types = {r.type for r in dev_run.resources if not r.custom}
    assert {
        "vega:stack:ObservabilityStack", "vega:prometheus:Prometheus", "vega:alertmanager:Alertmanager",
        "vega:grafana:Grafana", "vega:loki:Loki", "vega:collector:LogCollector", "vega:jaeger:Jaeger",
        "vega:exporters:NodeExporter", "vega:exporters:Cadvisor",
    } <= types
    for r in dev_run.resources:
        if r.type != "vega:stack:ObservabilityStack":
            assert r.parent, f"{r.name} has no parent"
            assert r.name.startswith(f"{r.parent}-"), f"child {r.name} is not named after {r.parent}"


def test_every_image_is_pinned_and_pulled_by_reference(dev_run: Run) -> None:
    images = dev_run.of_type("docker:index/remoteImage:RemoteImage")
    assert len(images) == len(SERVICES)
    for image in images:
        ref = image.inputs["name"]
        check_image(ref)  # raises when unpinned
        assert not ref.endswith(":latest")
    for c in containers(dev_run).values():
        assert c.inputs["image"].startswith("sha256:"), "container must run the pulled image"


def test_published_ports_bind_to_loopback_at_the_seeds_ports(dev_run: Run) -> None:
    published = {}
    for service, c in containers(dev_run).items():
        for port in c.inputs.get("ports") or []:
            assert port["ip"] == "127.0.0.1", f"{service} publishes {port} beyond loopback"
            published[port["external"]] = service
    assert published == {
        3000: "grafana", 9090: "prometheus", 9093: "alertmanager", 3100: "loki",
        16686: "jaeger", 4317: "jaeger", 4318: "jaeger", 8000: "vega-api", 8001: "vega-coordinator",
    }


def test_bind_address_is_configurable() -> None:
    run = run_program("dev", {"bindAddress": "0.0.0.0", "grafanaAdminPassword": "a-password-of-its-own"})
    for c in containers(run).values():
        for port in c.inputs.get("ports") or []:
            assert port["ip"] == "0.0.0.0"


def test_data_lives_on_named_volumes_that_survive_replacement(dev_run: Run) -> None:
    volumes = {v.inputs["name"]: v for v in dev_run.of_type("docker:index/volume:Volume")}
    mounts = {}
    for service, c in containers(dev_run).items():
        for v in c.inputs.get("volumes") or []:
            if v.get("volumeName"):
                mounts[service] = (v["volumeName"], v["containerPath"])
    assert mounts["prometheus"] == ("vega-observability-prometheus-data", "/prometheus")
    assert mounts["grafana"] == ("vega-observability-grafana-data", "/var/lib/grafana")
    assert mounts["loki"] == ("vega-observability-loki-data", "/loki")
    assert mounts["alertmanager"][1] == "/alertmanager"
    assert {m[0] for m in mounts.values()} <= set(volumes)
    for c in containers(dev_run).values():
        assert c.delete_before_replace, "fixed names and ports need delete-before-replace"


def test_services_find_each_other_by_alias_on_one_network(dev_run: Run) -> None:
    networks = dev_run.of_type("docker:index/network:Network")
    assert [n.inputs["name"] for n in networks] == ["vega-observability"]
    for service, c in containers(dev_run).items():
        nets = c.inputs["networksAdvanced"]
        assert nets[0]["name"] == "vega-observability"
        assert nets[0]["aliases"] == [service]


def test_vega_networks_are_joined_by_prometheus_and_jaeger_only() -> None:
    run = run_program("dev", {"dockerExternalNetworks": '["vega_default"]', "demo": False})
    joined = {s for s, c in containers(run).items() if any(n["name"] == "vega_default" for n in c.inputs["networksAdvanced"])}
    assert joined == {"prometheus", "jaeger"}


def test_every_container_is_healthchecked_restarted_and_memory_bounded(dev_run: Run) -> None:
    total = 0
    for service, c in containers(dev_run).items():
        assert c.inputs["restart"] == "unless-stopped"
        assert 0 < c.inputs["memory"] <= 2048
        total += c.inputs["memory"]
        assert c.inputs["logOpts"] == {"max-file": "3", "max-size": "10m"}
        if service == "collector":
            assert "healthcheck" not in c.inputs  # no HTTP client in either image
            continue
        test = c.inputs["healthcheck"]["tests"]
        assert test[0] == "CMD" and len(test) > 1
        assert c.inputs["wait"] is True
    assert total <= 4096, "the dev stack must fit a laptop"


def test_loki_is_checked_by_its_own_binary(dev_run: Run) -> None:
    assert containers(dev_run)["loki"].inputs["healthcheck"]["tests"] == ["CMD", "/usr/bin/loki", "-health"]


def test_config_files_travel_inside_the_container(dev_run: Run) -> None:
    c = containers(dev_run)
    assert "/etc/prometheus/prometheus.yml" in uploads(c["prometheus"])
    assert "/etc/prometheus/rules/vega.yml" in uploads(c["prometheus"])
    assert "/etc/alertmanager/alertmanager.yml" in uploads(c["alertmanager"])
    assert "/etc/loki/config.yaml" in uploads(c["loki"])
    assert "/etc/jaeger/config.yaml" in uploads(c["jaeger"])
    assert "/etc/collector/promtail-config.yaml" in uploads(c["collector"])
    grafana = uploads(c["grafana"])
    assert "/etc/grafana/provisioning/datasources/datasources.yaml" in grafana
    assert any(path.startswith("/etc/grafana/dashboards/") for path in grafana)


def test_datasources_have_pinned_uids_and_correlations(dev_run: Run) -> None:
    text = uploads(containers(dev_run)["grafana"])["/etc/grafana/provisioning/datasources/datasources.yaml"]
    doc = yaml.safe_load(text)
    by_type = {d["type"]: d for d in doc["datasources"]}
    assert {d["uid"] for d in doc["datasources"]} == set(DATASOURCE_UIDS.values())
    assert by_type["prometheus"]["url"] == "http://prometheus:9090"
    assert by_type["prometheus"]["jsonData"]["exemplarTraceIdDestinations"][0]["datasourceUid"] == "vega-jaeger"
    assert by_type["loki"]["jsonData"]["derivedFields"][0]["datasourceUid"] == "vega-jaeger"
    assert by_type["jaeger"]["jsonData"]["tracesToLogsV2"]["datasourceUid"] == "vega-loki"
    assert by_type["jaeger"]["jsonData"]["tracesToMetrics"]["datasourceUid"] == "vega-prometheus"


def test_provisioning_values_escape_every_literal_dollar(dev_run: Run) -> None:
    """Grafana expands $NAME in provisioning files; a macro must be written $${...}."""
    for path, text in uploads(containers(dev_run)["grafana"]).items():
        if "/provisioning/" in path:
            bare = re.findall(r"(?<!\$)\$(?!\$)(?!__file\{|__env\{)", text.replace("$$", ""))
            assert not bare, f"{path} has an unescaped $"


def test_admin_password_and_receiver_secrets_are_pulumi_secrets() -> None:
    run = run_program(
        "dev",
        {
            "alertmanagerSlackApiUrl": "https://hooks.slack.com/services/T0/B0/VerySecretSlackToken",
            "grafanaAdminPassword": "a-grafana-password-for-tests",
        },
    )
    c = containers(run)
    for service in ("alertmanager", "grafana"):
        raw = c[service].inputs["uploads"]
        assert isinstance(raw, dict) and raw.get("value"), f"{service} uploads must be a Pulumi secret"
    am = uploads(c["alertmanager"])
    assert am["/etc/alertmanager/secrets/slack_api_url"] == "https://hooks.slack.com/services/T0/B0/VerySecretSlackToken"
    assert "VerySecretSlackToken" not in am["/etc/alertmanager/alertmanager.yml"]
    assert "api_url_file: /etc/alertmanager/secrets/slack_api_url" in am["/etc/alertmanager/alertmanager.yml"]
    envs = " ".join(c["grafana"].inputs.get("envs") or [])
    assert "a-grafana-password-for-tests" not in envs
    assert "GF_SECURITY_ADMIN_PASSWORD__FILE=/etc/grafana/secrets/admin_password" in envs


def test_editing_a_config_file_changes_the_container(configs_copy: Path) -> None:
    before = uploads(containers(run_program("dev"))["prometheus"])
    rules = configs_copy / "prometheus" / "thresholds.yaml"
    rules.write_text(rules.read_text().replace("high_error_rate_per_second: 0.1", "high_error_rate_per_second: 0.25"))
    after = uploads(containers(run_program("dev"))["prometheus"])
    assert before["/etc/prometheus/rules/vega.yml"] != after["/etc/prometheus/rules/vega.yml"]
    assert "> 0.25" in after["/etc/prometheus/rules/vega.yml"]


def test_alertmanager_can_be_switched_off() -> None:
    run = run_program("dev", {"alertmanagerEnabled": "false"})
    assert "alertmanager" not in containers(run)
    prom = uploads(containers(run)["prometheus"])["/etc/prometheus/prometheus.yml"]
    assert "alerting" not in yaml.safe_load(prom)
    assert "alertmanager" not in run.outputs["urls"]


def test_promtail_is_the_alternative_collector() -> None:
    run = run_program("dev", {"collector": "promtail"})
    c = containers(run)["collector"]
    image = next(i for i in run.of_type("docker:index/remoteImage:RemoteImage") if i.parent == "vega-collector")
    assert image.inputs["name"] == "grafana/promtail:3.6.11"
    assert c.inputs["command"] == ["-config.file=/etc/collector/promtail-config.yaml"]


def test_alloy_runs_the_same_pipeline_file(dev_run: Run) -> None:
    c = containers(dev_run)["collector"]
    assert c.inputs["command"][:2] == ["run", "--config.format=promtail"]
    assert c.inputs["command"][-1] == "/etc/collector/promtail-config.yaml"
    pipeline = yaml.safe_load(uploads(c)["/etc/collector/promtail-config.yaml"])
    assert pipeline["clients"] == [{"url": "http://loki:3100/loki/api/v1/push"}]
    assert [j["job_name"] for j in pipeline["scrape_configs"]] == ["docker-containers", "system"]


def test_badger_storage_gets_a_volume() -> None:
    run = run_program("dev", {"jaegerStorage": "badger"})
    jaeger = containers(run)["jaeger"]
    assert any(v.get("containerPath") == "/tmp" for v in jaeger.inputs["volumes"])
    config = yaml.safe_load(uploads(jaeger)["/etc/jaeger/config.yaml"])
    backend: dict[str, Any] = config["extensions"]["jaeger_storage"]["backends"]["main_store"]
    assert backend["badger"]["ttl"]["spans"] == "168h"


def test_stack_exports_the_seeds_urls(dev_run: Run) -> None:
    assert dev_run.outputs["urls"] == {
        "grafana": "http://localhost:3000",
        "prometheus": "http://localhost:9090",
        "alertmanager": "http://localhost:9093",
        "loki": "http://localhost:3100",
        "jaeger": "http://localhost:16686",
        "otlp_grpc": "http://localhost:4317",
        "otlp_http": "http://localhost:4318",
    }


@pytest.mark.parametrize("breakage", ["setting", "rule file"])
def test_bad_input_stops_the_program_before_any_resource(configs_copy: Path, breakage: str) -> None:
    import pulumi

    from tools.mockrun import Run as MockRun

    overrides = {}
    if breakage == "setting":
        overrides = {"scrapeInterval": "15x"}
        expected = "scrapeInterval"
    else:
        rules = configs_copy / "prometheus" / "rules" / "vega.yml"
        rules.write_text(rules.read_text().replace("${min_active_participants}", "${min_participants}", 1))
        expected = "unknown placeholder"
    run = MockRun(stack="dev")
    with pytest.raises(pulumi.RunError, match=expected):
        run_program("dev", overrides, into=run)
    assert run.resources == []
