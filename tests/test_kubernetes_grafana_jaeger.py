"""Grafana and Jaeger v2 on the prod stack (kubernetes), under Pulumi mocks: replicas that
share state the right way, TLS on every endpoint, secrets only in Secrets, and the storage
and datasources the stack config names."""

from __future__ import annotations

import configparser
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from components.endpoints import DATASOURCE_UIDS
from tests.conftest import ROOT, stack_run
from tools.mockrun import Run, run_program, unwrap

NS = "vega-observability"
PROD = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
TLS_DIR = "/etc/tls/internal"
CA_FILE = "/etc/tls/ca/ca.crt"
GRAFANA_SECRETS = "/etc/grafana/secrets"

# Recognisable values for every secret these services use, and settings that differ from
# the committed stack, so a test can tell where each value went.
SECRETS = {
    "grafanaAdminPassword": "gj-admin-password-7c1d",
    "grafanaDatabasePassword": "gj-database-password-91ae",
    "grafanaSecretKey": "gj-secret-key-4b20-0123456789abcdefghij",
    "grafanaOidcClientSecret": "gj-oidc-client-secret-5e77",
    "jaegerStoragePassword": "gj-storage-password-e3f0",
    "webPassword": "gj-web-password-2a9b",
}
OIDC = {
    "grafanaOidcEnabled": True,
    "grafanaOidcClientId": "vega-grafana",
    "grafanaOidcAuthUrl": "https://sso.example.org/oauth2/auth",
    "grafanaOidcTokenUrl": "https://sso.example.org/oauth2/token",
    "grafanaOidcApiUrl": "https://sso.example.org/oauth2/userinfo",
    "grafanaOidcRoleAttributePath": "contains(groups[*], 'sre') && 'Admin' || 'Viewer'",
}
VARIED = {
    "grafanaReplicas": 3,
    "jaegerCollectorReplicas": 3,
    "jaegerQueryReplicas": 4,
    "grafanaDatabaseHost": "pg.db.example.org:6432",
    "jaegerStorageUrls": ["https://os-0.search.example.org:9200", "https://os-1.search.example.org:9200"],
    "jaegerIndexPrefix": "vega-test",
    "jaegerRetention": "14d",
}

# Keys Jaeger 2.x deprecates (rotation moved elsewhere) or rejects since v2.20.
DEPRECATED_ES_KEYS = {"date_layout", "rollover_frequency", "use_aliases", "use_ilm"}
REJECTED_ES_KEYS = {"disable_health_check", "health_check_timeout_startup", "send_get_body_as"}

OUR_WORKLOADS = ("grafana", "jaeger-collector", "jaeger-query")


@pytest.fixture(scope="module")
def prod() -> Run:
    return stack_run("prod")


@pytest.fixture(scope="module")
def varied() -> Run:
    return run_program("prod", {**SECRETS, **OIDC, **VARIED})


# --------------------------------------------------------------------------- helpers


def objects(run: Run, kind: str) -> list[dict[str, Any]]:
    return [
        unwrap(r.inputs)
        for r in run.resources
        if r.custom and r.type.startswith("kubernetes:") and unwrap(r.inputs).get("kind") == kind
    ]


def named(run: Run, kind: str, name: str) -> dict[str, Any]:
    found = [d for d in objects(run, kind) if d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def container(run: Run, workload: str) -> dict[str, Any]:
    containers = named(run, "Deployment", workload)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def volumes(run: Run, workload: str) -> dict[str, dict[str, Any]]:
    spec = named(run, "Deployment", workload)["spec"]["template"]["spec"]
    return {v["name"]: v for v in spec["volumes"]}


def mounted_at(run: Run, workload: str, path: str) -> dict[str, Any]:
    """The volume a workload's container mounts at path."""
    mounts = {m["mountPath"]: m["name"] for m in container(run, workload)["volumeMounts"]}
    assert path in mounts, f"{workload} mounts nothing at {path}"
    return volumes(run, workload)[mounts[path]]


def config_files(run: Run, configmap: str) -> dict[str, str]:
    data = named(run, "ConfigMap", configmap)["data"]
    return {key.replace("__", "/"): text for key, text in data.items()}


def secret_files(run: Run, secret: str) -> dict[str, str]:
    data = named(run, "Secret", secret)["stringData"]
    return {key.replace("__", "/"): text for key, text in data.items()}


def grafana_ini(run: Run) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(comment_prefixes=(";", "#"), strict=True)
    parser.read_string(config_files(run, "vega-grafana-config")["grafana.ini"])
    return parser


def datasources(run: Run) -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(config_files(run, "vega-grafana-config")["provisioning/datasources/datasources.yaml"])
    return {ds["uid"]: ds for ds in doc["datasources"]}


def grafana_secret_file(run: Run, ini_value: str) -> str:
    """The content of the Secret file a `$__file{...}` value names, checked to be mounted."""
    match = re.fullmatch(r"\$__file\{(.+)\}", ini_value)
    assert match, f"{ini_value!r} is not read from a file"
    path = match.group(1)
    directory, _, file = path.rpartition("/")
    volume = mounted_at(run, "grafana", directory)
    assert "secret" in volume, f"{path} is not in a Secret"
    assert file in {i["path"] for i in volume["secret"]["items"]}
    return secret_files(run, volume["secret"]["secretName"])[file]


def jaeger_config(run: Run, role: str) -> dict[str, Any]:
    args = container(run, role)["args"]
    assert args[0] == "--config" and args[1].startswith("/etc/jaeger/")
    file = args[1].removeprefix("/etc/jaeger/")
    volume = mounted_at(run, role, "/etc/jaeger")
    assert file in {i["path"] for i in volume["configMap"]["items"]}
    return yaml.safe_load(config_files(run, volume["configMap"]["name"])[file])


def storage(run: Run, role: str) -> tuple[str, dict[str, Any]]:
    backends = jaeger_config(run, role)["extensions"]["jaeger_storage"]["backends"]
    assert len(backends) == 1
    (backend,) = backends.values()
    assert len(backend) == 1
    ((kind, body),) = backend.items()
    return kind, body


def keys_of(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from keys_of(value)
    elif isinstance(node, list):
        for value in node:
            yield from keys_of(value)


def strings_of(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from strings_of(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings_of(value)
    elif isinstance(node, str):
        yield node


def unexpanded(value: str, allowed: str) -> list[str]:
    """What Grafana would expand in `value` besides the `allowed` pattern: it splits on `$$`
    (a literal `$`) and expands every other `$` (an unknown name becomes empty)."""
    return [m for part in value.split("$$") for m in re.findall(r"\$\S{0,12}", re.sub(allowed, "", part))]


# --------------------------------------------------------------------------- grafana


def test_grafana_replicas_share_the_external_postgresql(prod: Run, varied: Run) -> None:
    for run, replicas, host in ((prod, 2, PROD["vega-observability:grafanaDatabaseHost"]), (varied, 3, VARIED["grafanaDatabaseHost"])):
        deployment = named(run, "Deployment", "grafana")
        assert deployment["spec"]["replicas"] == replicas >= 2
        db = grafana_ini(run)["database"]
        assert db["type"] == "postgres"
        assert db["host"] == host
        assert db["ssl_mode"] == "verify-full"
        assert grafana_secret_file(run, db["password"]) not in ("", None)
    assert grafana_secret_file(varied, grafana_ini(varied)["database"]["password"]) == SECRETS["grafanaDatabasePassword"]
    # Nothing to keep on the pods: the writable paths are scratch space.
    for path in ("/var/lib/grafana", "/tmp"):
        assert "emptyDir" in mounted_at(prod, "grafana", path)
    assert not named(prod, "Deployment", "grafana")["spec"]["template"]["spec"].get("volumeClaimTemplates")


def test_every_grafana_replica_reads_the_same_secret_key(varied: Run) -> None:
    security = grafana_ini(varied)["security"]
    assert grafana_secret_file(varied, security["secret_key"]) == SECRETS["grafanaSecretKey"]
    # One pod template for every replica, and nothing per pod that could override the key.
    env = {e["name"] for e in container(varied, "grafana").get("env") or []}
    assert not any(name.startswith("GF_SECURITY_SECRET_KEY") for name in env)
    assert all(s["metadata"]["name"] != "grafana" for s in objects(varied, "StatefulSet"))


def test_grafana_alerting_replicas_gossip_through_the_headless_service(prod: Run) -> None:
    alerting = grafana_ini(prod)["unified_alerting"]
    assert alerting["enabled"] == "true"
    assert alerting["ha_peers"] == f"grafana-alerting.{NS}.svc:9094"
    assert alerting["ha_listen_address"] == "0.0.0.0:9094"
    assert alerting["ha_advertise_address"] == "${POD_IP}:9094"
    env = {e["name"]: e for e in container(prod, "grafana")["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert {"name": "alerting", "containerPort": 9094, "protocol": "TCP"} in container(prod, "grafana")["ports"]
    headless = named(prod, "Service", "grafana-alerting")["spec"]
    assert headless["clusterIP"] == "None"
    assert headless["publishNotReadyAddresses"] is True
    assert [p["port"] for p in headless["ports"]] == [9094]
    pod_labels = named(prod, "Deployment", "grafana")["spec"]["template"]["metadata"]["labels"]
    assert headless["selector"].items() <= pod_labels.items()


def test_grafana_logins_admin_from_a_secret_and_no_anonymous_access(varied: Run, prod: Run) -> None:
    env = {e["name"]: e for e in container(varied, "grafana")["env"]}
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    path = env["GF_SECURITY_ADMIN_PASSWORD__FILE"]["value"]
    assert grafana_secret_file(varied, f"$__file{{{path}}}") == SECRETS["grafanaAdminPassword"]
    ini = grafana_ini(varied)
    assert ini["auth.anonymous"]["enabled"] == "false"
    assert ini["security"]["cookie_secure"] == "true"
    server = ini["server"]
    assert server["protocol"] == "https"
    assert server["cert_file"] == f"{TLS_DIR}/tls.crt" and server["cert_key"] == f"{TLS_DIR}/tls.key"
    assert mounted_at(varied, "grafana", TLS_DIR)["secret"]["secretName"]
    assert server["root_url"] == PROD["vega-observability:grafanaRootUrl"]
    # Without a grafanaRootUrl, the public host.
    assert grafana_ini(run_program("prod", {"grafanaRootUrl": None}))["server"]["root_url"] == "https://grafana.vega.example.org/"
    assert not grafana_ini(prod).has_section("auth.generic_oauth")


def test_grafana_signs_in_through_oidc_with_a_file_secret(varied: Run) -> None:
    oauth = grafana_ini(varied)["auth.generic_oauth"]
    assert oauth["enabled"] == "true"
    assert oauth["client_id"] == OIDC["grafanaOidcClientId"]
    for key in ("auth_url", "token_url", "api_url"):
        assert oauth[key] == OIDC[f"grafanaOidc{key.split('_')[0].capitalize()}Url"]
    assert oauth["role_attribute_path"] == OIDC["grafanaOidcRoleAttributePath"]
    assert grafana_secret_file(varied, oauth["client_secret"]) == SECRETS["grafanaOidcClientSecret"]


def test_datasources_reach_the_stack_over_https_with_pinned_uids(varied: Run) -> None:
    sources = datasources(varied)
    assert set(sources) == set(DATASOURCE_UIDS.values())
    assert {uid: ds["url"] for uid, ds in sources.items()} == {
        DATASOURCE_UIDS["prometheus"]: f"https://thanos-query.{NS}.svc:10902",
        DATASOURCE_UIDS["loki"]: f"https://loki-query-frontend.{NS}.svc:3100",
        DATASOURCE_UIDS["jaeger"]: f"https://jaeger-query.{NS}.svc:16686",
        DATASOURCE_UIDS["alertmanager"]: f"https://alertmanager.{NS}.svc:9093",
    }
    for ds in sources.values():
        assert ds["jsonData"]["tlsAuthWithCACert"] is True, ds["name"]
        assert ds["secureJsonData"]["tlsCACert"] == f"$__file{{{CA_FILE}}}", ds["name"]
        assert not ds["jsonData"].get("tlsSkipVerify"), ds["name"]
    for key in ("prometheus", "alertmanager"):
        ds = sources[DATASOURCE_UIDS[key]]
        assert ds["basicAuth"] is True and ds["basicAuthUser"] == "vega"
        assert grafana_secret_file(varied, ds["secureJsonData"]["basicAuthPassword"]) == SECRETS["webPassword"]
    for key in ("loki", "jaeger"):
        assert not sources[DATASOURCE_UIDS[key]].get("basicAuth")
    assert mounted_at(varied, "grafana", "/etc/tls/ca")


def test_only_intended_expansions_are_left_unescaped(prod: Run) -> None:
    files = config_files(prod, "vega-grafana-config")
    provisioning = yaml.safe_load(files["provisioning/datasources/datasources.yaml"])
    values = list(strings_of(provisioning))
    assert any("$$" in v for v in values), "the correlation macros must be in the file, escaped"
    for value in values:
        assert not unexpanded(value, r"\$__file\{/[^}]+\}"), value
    ini = grafana_ini(prod)
    for section in ini.sections():
        for key, value in ini.items(section):
            assert not unexpanded(value, r"\$__file\{/[^}]+\}|\$\{POD_IP\}"), f"{section}.{key} = {value}"


def test_no_secret_value_outside_a_secret(varied: Run) -> None:
    kept: dict[str, list[str]] = {key: [] for key in SECRETS}
    for r in varied.resources:
        text = json.dumps(unwrap(r.inputs), sort_keys=True)
        for key, value in SECRETS.items():
            if value in text:
                kept[key].append(r.type)
    for key, types in kept.items():
        assert types, f"{key} reached no resource at all"
        assert set(types) == {"kubernetes:core/v1:Secret"}, f"{key} found in {sorted(set(types))}"
    outputs = json.dumps(varied.outputs)
    assert not any(value in outputs for value in SECRETS.values())


def test_grafana_is_scraped_over_https_with_the_stack_credential_and_published_at_its_host(
    prod: Run, varied: Run
) -> None:
    service = named(prod, "Service", "grafana")
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [("https", 3000)]
    annotations = service["metadata"]["annotations"]
    assert annotations["vega-observability/scrape"] == "https-auth"
    assert annotations["vega-observability/metrics-port"] == "https"
    metrics = grafana_ini(prod)["metrics"]
    assert metrics["enabled"] == "true"
    # /metrics passes through the Ingress like every path: Grafana itself asks for the credential
    # Prometheus' https-auth job sends (webUsername, the web_password file).
    scrape = yaml.safe_load(config_files(prod, "vega-prometheus-config")["prometheus.yml"])
    job = next(j for j in scrape["scrape_configs"] if j["job_name"] == "stack-https-auth")
    assert metrics["basic_auth_username"] == job["basic_auth"]["username"]
    assert grafana_secret_file(varied, grafana_ini(varied)["metrics"]["basic_auth_password"]) == SECRETS["webPassword"]
    assert prod.outputs["urls"]["grafana"] == "https://grafana.vega.example.org/"


# --------------------------------------------------------------------------- jaeger


def test_jaeger_collector_and_query_run_replicated_from_one_image_and_configmap(prod: Run, varied: Run) -> None:
    for run, expected in ((prod, {"jaeger-collector": 2, "jaeger-query": 2}), (varied, {"jaeger-collector": 3, "jaeger-query": 4})):
        for role, replicas in expected.items():
            assert named(run, "Deployment", role)["spec"]["replicas"] == replicas >= 2
    images = {container(prod, role)["image"] for role in ("jaeger-collector", "jaeger-query")}
    assert len(images) == 1 and images.pop().startswith("jaegertracing/jaeger:2.")
    assert [container(prod, r)["args"] for r in ("jaeger-collector", "jaeger-query")] == [
        ["--config", "/etc/jaeger/collector.yaml"], ["--config", "/etc/jaeger/query.yaml"],
    ]
    maps = {mounted_at(prod, r, "/etc/jaeger")["configMap"]["name"] for r in ("jaeger-collector", "jaeger-query")}
    assert len(maps) == 1
    assert set(config_files(prod, maps.pop())) == {"collector.yaml", "query.yaml"}


def test_jaeger_stores_traces_where_the_config_says(prod: Run, varied: Run) -> None:
    for role in ("jaeger-collector", "jaeger-query"):
        kind, body = storage(prod, role)
        assert kind == PROD["vega-observability:jaegerStorage"] == "opensearch"
        assert body["server_urls"] == PROD["vega-observability:jaegerStorageUrls"]
        assert body["indices"]["index_prefix"] == "vega"
        for index in ("spans", "services", "dependencies", "sampling"):
            assert body["indices"][index]["shards"] >= 1 and body["indices"][index]["replicas"] >= 1
        basic = body["auth"]["basic"]
        assert basic["username"] == PROD["vega-observability:jaegerStorageUsername"]
        assert "password" not in basic

        kind, body = storage(varied, role)
        assert body["server_urls"] == VARIED["jaegerStorageUrls"]
        assert body["indices"]["index_prefix"] == VARIED["jaegerIndexPrefix"]
        assert body["max_span_age"] == "336h"  # searches reach back over the whole retention
        path = body["auth"]["basic"]["password_file"]
        directory, _, file = path.rpartition("/")
        volume = mounted_at(varied, role, directory)
        assert secret_files(varied, volume["secret"]["secretName"])[file] == SECRETS["jaegerStoragePassword"]
    assert storage(prod, "jaeger-collector") == storage(prod, "jaeger-query")


def test_jaeger_without_storage_credentials_sends_none() -> None:
    run = run_program(
        "prod",
        {"jaegerStorage": "elasticsearch", "jaegerStorageVersion": "8.15", "jaegerStorageUsername": None,
         "jaegerStoragePassword": None},
    )
    for role in ("jaeger-collector", "jaeger-query"):
        kind, body = storage(run, role)
        assert kind == "elasticsearch"
        assert "auth" not in body
        assert not [m for m in container(run, role)["volumeMounts"] if m["mountPath"].startswith("/etc/jaeger/secrets")]


def test_external_endpoints_use_the_users_ca_bundle_when_given(prod: Run) -> None:
    external = "/etc/tls/external-ca/ca.crt"
    # Without a bundle, the images' system roots verify PostgreSQL and the trace storage.
    assert not grafana_ini(prod).has_option("database", "ca_cert_path")
    assert "tls" not in storage(prod, "jaeger-collector")[1]
    run = run_program("prod", {"caBundleConfigMap": "corporate-ca"})
    assert grafana_ini(run)["database"]["ca_cert_path"] == external
    for workload in OUR_WORKLOADS:
        assert mounted_at(run, workload, "/etc/tls/external-ca")["configMap"]["name"] == "corporate-ca"
    for role in ("jaeger-collector", "jaeger-query"):
        assert storage(run, role)[1]["tls"]["ca_file"] == external
    # The stack's own endpoints stay verified against the internal CA.
    assert {ds["secureJsonData"]["tlsCACert"] for ds in datasources(run).values()} == {f"$__file{{{CA_FILE}}}"}


def test_jaeger_storage_config_avoids_deprecated_and_rejected_keys(prod: Run) -> None:
    for role in ("jaeger-collector", "jaeger-query"):
        _, body = storage(prod, role)
        keys = set(keys_of(body))
        assert not keys & (DEPRECATED_ES_KEYS | REJECTED_ES_KEYS), sorted(keys & (DEPRECATED_ES_KEYS | REJECTED_ES_KEYS))
        assert not [k for k in keys if k.endswith(("_read_alias", "_write_alias"))]
        assert "use_https" not in body.get("sniffing", {})
        assert "max_actions" not in body.get("bulk_processing", {})


def test_otlp_receivers_and_the_query_ui_speak_tls(prod: Run) -> None:
    tls_keys = {"cert_file": f"{TLS_DIR}/tls.crt", "key_file": f"{TLS_DIR}/tls.key"}
    protocols = jaeger_config(prod, "jaeger-collector")["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    query = jaeger_config(prod, "jaeger-query")["extensions"]["jaeger_query"]
    assert query["http"]["endpoint"] == "0.0.0.0:16686"
    for server in (protocols["grpc"], protocols["http"], query["http"], query["grpc"]):
        assert tls_keys.items() <= server["tls"].items()
    for role in ("jaeger-collector", "jaeger-query"):
        assert mounted_at(prod, role, TLS_DIR)["secret"]["secretName"]
    assert jaeger_config(prod, "jaeger-query")["service"]["pipelines"]["traces"]["receivers"] == ["nop"]


def test_jaeger_services_ports_and_probes_match_the_config(prod: Run) -> None:
    expected = {
        "jaeger-collector": {"otlp-grpc": 4317, "otlp-http": 4318, "metrics": 8888},
        "jaeger-query": {"https": 16686, "metrics": 8887},
    }
    health = {"jaeger-collector": 13133, "jaeger-query": 12133}
    for role, ports in expected.items():
        service = named(prod, "Service", role)
        assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == ports
        assert service["metadata"]["annotations"]["vega-observability/scrape"] == "http"
        assert service["metadata"]["annotations"]["vega-observability/metrics-port"] == "metrics"
        config = jaeger_config(prod, role)
        reader = config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
        assert reader["port"] == ports["metrics"]
        check = config["extensions"]["healthcheckv2"]["http"]
        assert check["endpoint"] == f"0.0.0.0:{health[role]}"
        c = container(prod, role)
        declared = {p["name"]: p["containerPort"] for p in c["ports"]}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            get = c[probe]["httpGet"]
            assert declared[get["port"]] == health[role]
            assert get["path"] == check["status"]["path"] and get["scheme"] == "HTTPS"
    urls = prod.outputs["urls"]
    assert urls["jaeger"] == "https://jaeger.vega.example.org/"
    assert urls["otlp_grpc"] == f"https://jaeger-collector.{NS}.svc:4317"
    assert urls["otlp_http"] == f"https://jaeger-collector.{NS}.svc:4318"


# --------------------------------------------------------------------------- all of ours


@pytest.mark.parametrize("workload", OUR_WORKLOADS)
def test_our_workloads_are_hardened_bounded_probed_and_spread(prod: Run, workload: str) -> None:
    deployment = named(prod, "Deployment", workload)
    spec = deployment["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    c = container(prod, workload)
    ctx = c["securityContext"]
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["runAsUser"] == (65534 if workload == "grafana" else 10001)
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind])
    declared = {p["name"] for p in c["ports"]}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["port"] in declared
        assert c[probe]["httpGet"]["scheme"] == "HTTPS"
    selector = deployment["spec"]["selector"]["matchLabels"]
    budgets = [p for p in objects(prod, "PodDisruptionBudget") if p["spec"]["selector"]["matchLabels"] == selector]
    assert len(budgets) == 1
    assert 1 <= budgets[0]["spec"]["maxUnavailable"] < deployment["spec"]["replicas"]
    assert any(
        t["topologyKey"] == "kubernetes.io/hostname" and t["whenUnsatisfiable"] == "DoNotSchedule"
        and t["labelSelector"]["matchLabels"] == selector
        for t in spec["topologySpreadConstraints"]
    )
    assert "emptyDir" in mounted_at(prod, workload, "/tmp")
