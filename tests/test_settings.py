"""Settings: every bad input fails before any resource, naming the key, the value and what
is allowed; good input becomes frozen, typed settings."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.settings import REQUIRED_KUBERNETES_SECRETS, ConfigError, SecretStr, load, load_schema, parse_duration

ROOT = Path(__file__).resolve().parent.parent

# (overrides of the dev stack's config, fragments the one error message must contain)
BAD_INPUTS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("unknown platform", {"platform": "swarm"}, ["platform", "'swarm'", "one of docker, kubernetes"]),
    ("unknown collector", {"collector": "fluentd"}, ["collector", "'fluentd'", "one of alloy, promtail"]),
    ("malformed duration", {"scrapeInterval": "15x"}, ["scrapeInterval", "'15x'", "Prometheus duration"]),
    ("zero retention", {"prometheusRetentionTime": "0d"}, ["prometheusRetentionTime", "'0d'", "greater than zero"]),
    ("negative retention", {"prometheusRetentionTime": "-5d"}, ["prometheusRetentionTime", "'-5d'", "duration"]),
    ("loki retention off the index period", {"lokiRetention": "36h"}, ["lokiRetention", "'36h'", "multiple of 24h"]),
    ("zero loki retention", {"lokiRetention": "0h"}, ["lokiRetention", "'0h'", "greater than zero"]),
    ("malformed size", {"prometheusRetentionSize": "10 GB"}, ["prometheusRetentionSize", "'10 GB'", "20GB"]),
    ("timeout above interval", {"scrapeTimeout": "20s"}, ["scrapeTimeout", "'20s'", "at most scrapeInterval (15s)"]),
    ("empty required targets", {"vegaApiTargets": "[]"}, ["vegaApiTargets", "[]", "at least one host:port"]),
    ("target without port", {"vegaCoordinatorTargets": '["coordinator"]'}, ["vegaCoordinatorTargets", "'coordinator'", "host:port"]),
    ("target port out of range", {"vegaApiTargets": '["vega-api:99999"]'}, ["vegaApiTargets", "'vega-api:99999'", "1-65535"]),
    ("duplicate target", {"vegaApiTargets": '["a:1", "a:1"]'}, ["vegaApiTargets", "each target listed once"]),
    ("targets not a list", {"vegaApiTargets": "vega-api:8000"}, ["vegaApiTargets", "'vega-api:8000'", "type array"]),
    ("port not an integer", {"grafanaPort": "abc"}, ["grafanaPort", "'abc'", "type integer"]),
    ("port out of range", {"grafanaPort": "70000"}, ["grafanaPort", "70000", "1 to 65535"]),
    ("clashing host ports", {"grafanaPort": "9090"}, ["grafanaPort, prometheusPort", "9090", "its own port"]),
    ("bind address not an IP", {"bindAddress": "localhost"}, ["bindAddress", "'localhost'", "IP address"]),
    ("misspelt key", {"scrapeIntervall": "30s"}, ["scrapeIntervall", "unknown configuration key", "'scrapeInterval'"]),
    ("boolean as word", {"alertmanagerEnabled": "yes"}, ["alertmanagerEnabled", "'yes'", "type boolean"]),
    ("mail without sender", {"alertmanagerEmailTo": "oncall@example.org"}, ["alertmanagerEmailFrom", "required"]),
    ("bad mail address", {"alertmanagerEmailTo": "oncall"}, ["alertmanagerEmailTo", "'oncall'", "e-mail address"]),
    ("smtp user without password", {"alertmanagerSmtpUsername": "am"}, ["alertmanagerSmtpPassword", "required"]),
    ("webhook not http", {"alertmanagerWebhookUrl": "ftp://hooks"}, ["alertmanagerWebhookUrl", "'ftp://hooks'", "http://"]),
    ("external network is the stack's", {"dockerExternalNetworks": '["vega-observability"]'}, ["dockerExternalNetworks", "other than dockerNetwork"]),
    ("trace storage of the other platform", {"jaegerStorage": "elasticsearch"}, ["jaegerStorage", "'elasticsearch'", "memory, badger"]),
    ("too few traces", {"jaegerMaxTraces": "10"}, ["jaegerMaxTraces", "10", "at least 1000"]),
    ("runbook URL not absolute", {"runbookBaseUrl": "docs/runbooks.md"}, ["runbookBaseUrl", "'docs/runbooks.md'", "http"]),
    ("admin user with spaces", {"grafanaAdminUser": "the admin"}, ["grafanaAdminUser", "'the admin'", "letters, digits"]),
    ("docker key on kubernetes", {"platform": "kubernetes", "grafanaPort": "3000", "grafanaAdminPassword": "x" * 16},
     ["grafanaPort", "platform 'docker' only"]),
    ("kubernetes without admin password", {"platform": "kubernetes"}, ["grafanaAdminPassword", "required on kubernetes", "--secret"]),
]


def dev_raw(**overrides: Any) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    raw = {k.split(":", 1)[1]: v for k, v in doc["config"].items() if k.startswith("vega-observability:")}
    raw.update(overrides)
    return raw


def prod_raw(**overrides: Any) -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text()) if (ROOT / "Pulumi.prod.yaml").exists() else {"config": {}}
    raw = {k.split(":", 1)[1]: v for k, v in doc["config"].items() if k.startswith("vega-observability:")}
    raw["platform"] = "kubernetes"
    raw.update(overrides)
    return raw


def error_of(raw: dict[str, Any], stack: str = "dev") -> str:
    with pytest.raises(ConfigError) as caught:
        load(raw, stack)
    return str(caught.value)


@pytest.mark.parametrize(("case", "overrides", "fragments"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_refused_with_key_value_and_what_is_allowed(case: str, overrides: dict[str, Any], fragments: list[str]) -> None:
    raw = dev_raw()
    if overrides.get("platform") == "kubernetes":
        raw = {k: v for k, v in raw.items() if k not in ("bindAddress",)}
    raw.update(overrides)
    message = error_of(raw)
    for fragment in fragments:
        assert fragment in message, f"{case}: {fragment!r} missing from:\n{message}"


def test_there_are_at_least_twenty_distinct_bad_inputs() -> None:
    assert len({case for case, _, _ in BAD_INPUTS}) >= 20


def test_every_problem_is_reported_at_once() -> None:
    message = error_of(dev_raw(platform="docker", scrapeInterval="1x", grafanaPort="0", lokiRetention="5h"))
    assert message.startswith("3 invalid settings:") or message.startswith("4 invalid settings:")
    for key in ("scrapeInterval", "grafanaPort", "lokiRetention"):
        assert key in message


def test_a_secret_value_never_appears_in_an_error() -> None:
    message = error_of(dev_raw(alertmanagerSlackApiUrl="http://hooks.example.org/T0/B0/SuperSecretToken"))
    assert "alertmanagerSlackApiUrl" in message and "https://" in message
    assert "SuperSecretToken" not in message
    assert "secret value hidden" in message


def test_short_admin_password_on_kubernetes_is_refused_without_showing_it() -> None:
    raw = {"platform": "kubernetes", "grafanaAdminPassword": "hunter2"}
    message = error_of(raw, "prod")
    assert "grafanaAdminPassword" in message and "12 characters" in message and "hunter2" not in message


# ---- the prod (kubernetes) stack: missing or contradictory settings are named

PROD_SECRETS = {
    "grafanaAdminPassword": "a-strong-admin-password",
    "grafanaSecretKey": "k" * 40,
    "grafanaDatabasePassword": "db-password",
    "webPassword": "a-strong-web-password",
    "s3AccessKeyId": "AKIAEXAMPLE",
    "s3SecretAccessKey": "secret-access-key",
    "alertmanagerSmtpPassword": "smtp-password",
    "jaegerStoragePassword": "opensearch-password",
}

BAD_PROD_INPUTS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("no object storage", {"s3Endpoint": ""}, ["s3Endpoint", "required on kubernetes"]),
    ("object storage with a scheme", {"s3Endpoint": "https://s3.example.org"}, ["s3Endpoint", "'https://s3.example.org'", "without a scheme"]),
    ("even alertmanager cluster", {"alertmanagerReplicas": "4"}, ["alertmanagerReplicas", "4", "odd number"]),
    ("single prometheus", {"prometheusReplicas": "1"}, ["prometheusReplicas", "1", "at least 2"]),
    ("loki below replication factor", {"lokiIngesterReplicas": "2"}, ["lokiIngesterReplicas", "2", "at least 3"]),
    ("agents in the service namespace", {"agentsNamespace": "vega-observability"}, ["agentsNamespace", "must differ from namespace"]),
    ("no grafana host", {"grafanaHost": ""}, ["grafanaHost", "required on kubernetes"]),
    ("bad host", {"prometheusHost": "Prometheus_UI"}, ["prometheusHost", "'Prometheus_UI'", "DNS host name"]),
    ("no TLS source", {"certManagerIssuer": ""}, ["certManagerIssuer", "ingressTlsSecret and internalTlsSecret"]),
    ("bad CIDR", {"externalCidrs": '["10.0.0.0/33"]'}, ["externalCidrs", "'10.0.0.0/33'", "CIDR"]),
    ("bad cron", {"backupSchedule": "daily"}, ["backupSchedule", "'daily'", "five fields"]),
    ("one bucket for all", {"thanosBucket": "vega-prod-loki"}, ["lokiBucket, thanosBucket, backupBucket", "different"]),
    ("no database host", {"grafanaDatabaseHost": ""}, ["grafanaDatabaseHost", "required on kubernetes"]),
    ("bad ssl mode", {"grafanaDatabaseSslMode": "disable"}, ["grafanaDatabaseSslMode", "'disable'", "verify-full"]),
    ("oidc without client", {"grafanaOidcEnabled": "true", "grafanaOidcClientSecret": "x"}, ["grafanaOidcClientId", "required when grafanaOidcEnabled"]),
    ("no trace storage", {"jaegerStorageUrls": "[]"}, ["jaegerStorageUrls", "required on kubernetes"]),
    ("memory traces in prod", {"jaegerStorage": "memory"}, ["jaegerStorage", "'memory'", "opensearch, elasticsearch"]),
    ("remote write over http", {"prometheusRemoteWriteUrl": "http://metrics.example.org/api/v1/write"}, ["prometheusRemoteWriteUrl", "https://"]),
    ("short secret key", {"grafanaSecretKey": "short"}, ["grafanaSecretKey", "at least 32 characters"]),
    ("namespace not a Kubernetes name", {"namespace": "Vega_Obs"}, ["namespace", "'Vega_Obs'", "Kubernetes name"]),
]


@pytest.mark.parametrize(("case", "overrides", "fragments"), BAD_PROD_INPUTS, ids=[c[0] for c in BAD_PROD_INPUTS])
def test_bad_prod_input_is_refused_naming_the_setting(case: str, overrides: dict[str, Any], fragments: list[str]) -> None:
    message = error_of(prod_raw(**{**PROD_SECRETS, **overrides}), "prod")
    for fragment in fragments:
        assert fragment in message, f"{case}: {fragment!r} missing from:\n{message}"
    for value in PROD_SECRETS.values():
        assert value not in message


def test_prod_stack_file_is_valid_with_its_secrets_set() -> None:
    settings = load(prod_raw(**PROD_SECRETS), "prod")
    assert settings.kubernetes is not None
    assert settings.kubernetes.replicas["alertmanager"] == 3
    assert settings.jaeger.storage == "opensearch"
    assert settings.grafana.database is not None and settings.grafana.database.host == "grafana-db.postgres.svc:5432"


def test_prod_stack_names_every_missing_secret() -> None:
    message = error_of(prod_raw(), "prod")
    for key in (*REQUIRED_KUBERNETES_SECRETS, "alertmanagerSmtpPassword", "jaegerStoragePassword"):
        assert f"{key}: required" in message and f"make config ARGS='set --secret {key}'" in message


def test_kubernetes_key_on_docker_is_refused() -> None:
    message = error_of(dev_raw(namespace="observability"))
    assert "namespace: applies to platform 'kubernetes' only" in message


def test_unknown_workload_in_kubernetes_sizing_is_refused(configs_copy: Path) -> None:
    doc = yaml.safe_load((configs_copy / "sizing.yaml").read_text())
    doc["kubernetes"]["tempo"] = {"cpu": "1", "memory": "1Gi", "cpu_limit": "1", "memory_limit": "1Gi"}
    doc["kubernetes"]["grafana"]["memory"] = "512MB"
    write_yaml(configs_copy / "sizing.yaml", doc)
    message = error_of(prod_raw(**PROD_SECRETS), "prod")
    assert "unknown key 'tempo'" in message
    assert "kubernetes.grafana.memory: '512MB'" in message and "512Mi or 4Gi" in message


# ---- the data files under configs/ are validated with the stack config


def write_yaml(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_latest_image_tag_is_refused(configs_copy: Path) -> None:
    doc = yaml.safe_load((configs_copy / "versions.yaml").read_text())
    doc["images"]["grafana"] = "grafana/grafana:latest"
    write_yaml(configs_copy / "versions.yaml", doc)
    message = error_of(dev_raw())
    assert "images.grafana" in message and "'grafana/grafana:latest'" in message and "not pinned" in message


@pytest.mark.parametrize("ref", ["prom/prometheus:v3", "prom/prometheus:3.13", "prom/prometheus", "prom/prometheus:main"])
def test_floating_image_tags_are_refused(configs_copy: Path, ref: str) -> None:
    doc = yaml.safe_load((configs_copy / "versions.yaml").read_text())
    doc["images"]["prometheus"] = ref
    write_yaml(configs_copy / "versions.yaml", doc)
    message = error_of(dev_raw())
    assert "images.prometheus" in message and repr(ref) in message


def test_digest_pinned_image_is_accepted(configs_copy: Path) -> None:
    doc = yaml.safe_load((configs_copy / "versions.yaml").read_text())
    doc["images"]["loki"] = "grafana/loki@sha256:" + "a" * 64
    write_yaml(configs_copy / "versions.yaml", doc)
    assert load(dev_raw(), "dev").images["loki"].endswith("a" * 64)


def test_unknown_image_key_is_refused(configs_copy: Path) -> None:
    doc = yaml.safe_load((configs_copy / "versions.yaml").read_text())
    doc["images"]["tempo"] = "grafana/tempo:2.9.0"
    write_yaml(configs_copy / "versions.yaml", doc)
    message = error_of(dev_raw())
    assert "unknown key 'tempo'" in message and "prometheus" in message


def test_unknown_key_nested_in_routing_is_refused(configs_copy: Path) -> None:
    doc = yaml.safe_load((configs_copy / "alertmanager" / "routing.yaml").read_text())
    doc["severities"]["critical"]["chanels"] = ["slack"]
    write_yaml(configs_copy / "alertmanager" / "routing.yaml", doc)
    message = error_of(dev_raw())
    assert "severities.critical" in message and "unknown key 'chanels'" in message and "channels" in message


def test_unknown_channel_in_routing_is_refused(configs_copy: Path) -> None:
    doc = yaml.safe_load((configs_copy / "alertmanager" / "routing.yaml").read_text())
    doc["severities"]["warning"]["channels"] = ["pager"]
    write_yaml(configs_copy / "alertmanager" / "routing.yaml", doc)
    message = error_of(dev_raw())
    assert "severities.warning.channels" in message and "'pager'" in message and "webhook, slack, email" in message


def test_zero_memory_in_sizing_is_refused(configs_copy: Path) -> None:
    doc = yaml.safe_load((configs_copy / "sizing.yaml").read_text())
    doc["docker"]["loki"] = 0
    write_yaml(configs_copy / "sizing.yaml", doc)
    message = error_of(dev_raw())
    assert "docker.loki" in message and "0" in message and "MiB" in message


def test_extra_scrape_job_problems_are_named(configs_copy: Path) -> None:
    jobs = {
        "scrape_configs": [
            {"job_name": "custom-service", "static_configs": [{"targets": []}]},
            {"job_name": "vega-api", "static_configs": [{"targets": ["x:1"]}]},
            {"job_name": "typo", "scrape_intervall": "5s", "static_configs": [{"targets": ["x:1"]}]},
        ]
    }
    write_yaml(configs_copy / "prometheus" / "scrape_configs" / "extra.yml", jobs)
    message = error_of(dev_raw())
    assert "targets: empty" in message
    assert "'vega-api' is taken" in message
    assert "unknown key 'scrape_intervall'" in message


def test_extra_scrape_job_is_loaded(configs_copy: Path) -> None:
    before = [j["job_name"] for j in load(dev_raw(), "dev").prometheus.extra_scrape_configs]  # the user's own
    job = {"job_name": "settings-probe-job", "static_configs": [{"targets": ["settings-probe:9000"]}]}
    write_yaml(configs_copy / "prometheus" / "scrape_configs" / "settings-probe.yml", {"scrape_configs": [job]})
    after = [j["job_name"] for j in load(dev_raw(), "dev").prometheus.extra_scrape_configs]
    assert sorted(after) == sorted([*before, "settings-probe-job"])


# ---- good input


def test_dev_stack_settings_are_typed_and_frozen() -> None:
    settings = load(dev_raw(), "dev")
    assert settings.platform == "docker"
    assert settings.collector == "alloy"
    assert settings.prometheus.retention_time == "15d"
    assert settings.loki.retention == "168h"
    assert settings.docker is not None and settings.docker.bind_address == "127.0.0.1"
    assert settings.docker.ports.grafana == 3000
    assert settings.prometheus.vega_api_targets == ("vega-api:8000",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.platform = "kubernetes"  # type: ignore[misc]


def test_dev_admin_password_defaults_to_the_seeds_login_and_hides_itself() -> None:
    settings = load(dev_raw(), "dev")
    assert settings.grafana.admin_password.reveal() == "admin"
    assert "admin" not in repr(settings.grafana.admin_password)
    assert "********" in repr(settings.grafana)


def test_secret_config_becomes_a_secret_str() -> None:
    settings = load(dev_raw(alertmanagerSlackApiUrl="https://hooks.slack.com/services/T0/B0/X"), "dev")
    assert isinstance(settings.alertmanager.slack_api_url, SecretStr)
    assert settings.alertmanager.channels == ("slack",)


@pytest.mark.parametrize(("text", "seconds"), [("15s", 15), ("1h30m", 5400), ("15d", 15 * 86400), ("500ms", 0.5)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_every_declared_key_has_type_description_and_default_or_is_secret() -> None:
    for name, spec in load_schema().items():
        assert spec.type in ("string", "integer", "boolean", "array"), name
        assert spec.description, f"{name} has no description"
        assert spec.secret or spec.default is not None, f"{name} has no default"
        assert not (spec.secret and spec.default is not None), f"secret {name} must not carry a default"


def test_every_declared_key_is_read_on_some_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    from components import settings as settings_module

    read: set[str] = set()
    original_typed, original_secret = settings_module.Reader.typed, settings_module.Reader.secret

    def typed(self: Any, key: str) -> Any:
        read.add(key)
        return original_typed(self, key)

    def secret(self: Any, key: str) -> Any:
        read.add(key)
        return original_secret(self, key)

    monkeypatch.setattr(settings_module.Reader, "typed", typed)
    monkeypatch.setattr(settings_module.Reader, "secret", secret)
    for raw in (dev_raw(), prod_raw(grafanaOidcEnabled="true")):
        with contextlib.suppress(ConfigError):  # only which keys are read matters here
            load(raw, "x")
    unread = set(load_schema()) - read
    assert not unread, f"declared in Pulumi.yaml but never read: {sorted(unread)}"
