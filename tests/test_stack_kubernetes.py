"""The prod stack under Pulumi mocks: every workload, checked for the HA and security
properties the platform engineers rely on when a node goes away."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import stack_run
from tools.mockrun import Run, run_program, unwrap

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
READ_VERBS = {"get", "list", "watch"}
# The node agents read host paths and the host network; that namespace is the documented
# exception to the restricted profile.
HOST_ACCESS = {"collector", "node-exporter"}


@pytest.fixture(scope="module")
def prod() -> Run:
    return stack_run("prod")


def objects(run: Run, kind: str | None = None) -> list[dict[str, Any]]:
    out = []
    for r in run.resources:
        if r.custom and r.type.startswith("kubernetes:"):
            doc = unwrap(r.inputs)
            if kind is None or doc.get("kind") == kind:
                out.append(doc)
    return out


def workloads(run: Run) -> list[dict[str, Any]]:
    return [d for kind in WORKLOAD_KINDS for d in objects(run, kind)]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def name(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def component(doc: dict[str, Any]) -> str:
    return doc["metadata"]["labels"]["app.kubernetes.io/component"]


def test_every_workload_is_declared(prod: Run) -> None:
    names = {d["metadata"]["name"] for d in workloads(prod)}
    assert {
        "prometheus", "thanos-query", "thanos-store", "thanos-compact", "alertmanager", "grafana",
        "loki-distributor", "loki-ingester", "loki-querier", "loki-query-frontend", "loki-query-scheduler",
        "loki-index-gateway", "loki-compactor", "loki-chunks-cache", "loki-results-cache", "jaeger-collector",
        "jaeger-query", "collector", "node-exporter",
    } <= names
    assert {d["metadata"]["name"] for d in objects(prod, "CronJob")} == {
        "prometheus-snapshot", "grafana-export", "jaeger-dependencies",
    }


@pytest.mark.parametrize(
    ("workload", "minimum"),
    [
        ("prometheus", 2), ("alertmanager", 3), ("grafana", 2), ("loki-ingester", 3), ("loki-distributor", 2),
        ("loki-querier", 2), ("loki-query-frontend", 2), ("loki-query-scheduler", 2), ("loki-index-gateway", 2),
        ("loki-chunks-cache", 2), ("loki-results-cache", 2), ("jaeger-collector", 2), ("jaeger-query", 2),
        ("thanos-query", 2), ("thanos-store", 2),
    ],
)
def test_high_availability_replicas(prod: Run, workload: str, minimum: int) -> None:
    doc = next(d for d in workloads(prod) if d["metadata"]["name"] == workload)
    assert doc["spec"]["replicas"] >= minimum


def test_every_replicated_workload_has_a_disruption_budget_and_spreads(prod: Run) -> None:
    budgets = {json.dumps(p["spec"]["selector"]["matchLabels"], sort_keys=True): p for p in objects(prod, "PodDisruptionBudget")}
    for doc in workloads(prod):
        if doc["kind"] == "DaemonSet" or doc["spec"].get("replicas", 1) < 2:
            continue
        key = json.dumps(doc["spec"]["selector"]["matchLabels"], sort_keys=True)
        assert key in budgets, f"{name(doc)} has no PodDisruptionBudget"
        budget = budgets[key]["spec"]
        assert budget.get("maxUnavailable", 0) >= 1 or budget.get("minAvailable") is not None
        assert budget.get("maxUnavailable", 1) < doc["spec"]["replicas"], f"{name(doc)}'s budget allows losing all"
        spec = pod_spec(doc)
        spread = spec.get("topologySpreadConstraints") or []
        anti = (spec.get("affinity") or {}).get("podAntiAffinity")
        assert any(c["topologyKey"] == "kubernetes.io/hostname" and c["whenUnsatisfiable"] == "DoNotSchedule" for c in spread) or anti, (
            f"{name(doc)} may put every replica on one node"
        )


def test_every_container_is_hardened_and_bounded(prod: Run) -> None:
    for doc in [*workloads(prod), *objects(prod, "CronJob")]:
        spec = pod_spec(doc)
        pod_ctx = spec.get("securityContext") or {}
        assert pod_ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault", name(doc)
        for c in [*spec["containers"], *(spec.get("initContainers") or [])]:
            ctx = c["securityContext"]
            where = f"{name(doc)} container {c['name']}"
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["capabilities"]["drop"] == ["ALL"], where
            assert not ctx.get("capabilities", {}).get("add"), where
            assert ctx.get("privileged") in (None, False), where
            if component(doc) not in HOST_ACCESS:
                assert ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is True, where
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][kind]), f"{where} lacks {kind}"
            assert c["image"].split(":")[-1] not in ("latest", ""), where


def test_every_long_running_container_has_three_probes(prod: Run) -> None:
    for doc in workloads(prod):
        for c in pod_spec(doc)["containers"]:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in c, f"{name(doc)} container {c['name']} lacks {probe}"


def test_service_account_tokens_only_where_the_api_is_used(prod: Run) -> None:
    bound = {s["name"] for b in objects(prod, "ClusterRoleBinding") for s in b["subjects"]}
    for doc in [*workloads(prod), *objects(prod, "CronJob")]:
        spec = pod_spec(doc)
        if spec.get("automountServiceAccountToken"):
            assert spec["serviceAccountName"] in bound, f"{name(doc)} mounts a token it has no use for"
        else:
            assert spec["automountServiceAccountToken"] is False, name(doc)


def test_rbac_is_read_only_discovery(prod: Run) -> None:
    roles = objects(prod, "ClusterRole") + objects(prod, "Role")
    assert roles
    for role in roles:
        for rule in role["rules"]:
            assert set(rule["verbs"]) <= READ_VERBS, f"{role['metadata']['name']} may {rule['verbs']}"
            assert "secrets" not in rule["resources"], f"{role['metadata']['name']} reads secrets"


def test_namespaces_enforce_pod_security(prod: Run) -> None:
    namespaces = {n["metadata"]["name"]: n["metadata"]["labels"] for n in objects(prod, "Namespace")}
    assert namespaces["vega-observability"]["pod-security.kubernetes.io/enforce"] == "restricted"
    agents = namespaces["vega-observability-agents"]
    assert agents["pod-security.kubernetes.io/enforce"] == "privileged"
    assert agents["pod-security.kubernetes.io/warn"] == "restricted"
    for doc in workloads(prod):
        in_agents = doc["metadata"]["namespace"] == "vega-observability-agents"
        assert in_agents == (component(doc) in HOST_ACCESS), f"{name(doc)} is in the wrong namespace"


def test_namespaces_deny_by_default(prod: Run) -> None:
    policies = objects(prod, "NetworkPolicy")
    for namespace in ("vega-observability", "vega-observability-agents"):
        deny = [p for p in policies if p["metadata"]["namespace"] == namespace and p["spec"]["podSelector"] == {}]
        assert deny, f"no default deny in {namespace}"
        assert set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        assert "ingress" not in deny[0]["spec"] and "egress" not in deny[0]["spec"]


def test_every_workload_has_a_policy_of_its_own(prod: Run) -> None:
    selected = {json.dumps(p["spec"]["podSelector"]["matchLabels"], sort_keys=True) for p in objects(prod, "NetworkPolicy") if p["spec"]["podSelector"]}
    for doc in [*workloads(prod), *objects(prod, "CronJob")]:
        if component(doc) == "node-exporter":
            continue  # host network: NetworkPolicies do not apply to it
        key = json.dumps({"app.kubernetes.io/component": component(doc), "app.kubernetes.io/part-of": "vega-observability"}, sort_keys=True)
        assert key in selected, f"{name(doc)} has no NetworkPolicy"


def _allowed(run: Run, destination: str, source: dict[str, Any], port: int) -> bool:
    for p in objects(run, "NetworkPolicy"):
        labels = p["spec"]["podSelector"].get("matchLabels") or {}
        if labels.get("app.kubernetes.io/component") != destination:
            continue
        for rule in p["spec"].get("ingress") or []:
            ports = {x["port"] for x in rule.get("ports") or []}
            if (not ports or port in ports) and any(source.items() <= peer.items() for peer in rule["from"]):
                return True
    return False


@pytest.mark.parametrize(
    ("destination", "source", "port"),
    [
        ("grafana", {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}, 3000),
        ("thanos-query", {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "grafana", "app.kubernetes.io/part-of": "vega-observability"}}}, 10902),
        ("alertmanager", {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "prometheus", "app.kubernetes.io/part-of": "vega-observability"}}}, 9093),
        ("loki-distributor", {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "vega-observability-agents"}}}, 3100),
        ("jaeger-collector", {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "vega"}}}, 4317),
    ],
)
def test_the_flows_the_stack_needs_are_allowed(prod: Run, destination: str, source: dict[str, Any], port: int) -> None:
    assert _allowed(prod, destination, source, port)


def test_the_ingress_controller_reaches_only_the_uis(prod: Run) -> None:
    controller = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    assert not _allowed(prod, "loki-distributor", controller, 3100)
    assert not _allowed(prod, "prometheus", controller, 9090)


def test_every_ingress_has_tls_for_its_hosts(prod: Run) -> None:
    ingresses = objects(prod, "Ingress")
    assert {i["metadata"]["name"] for i in ingresses} == {"grafana", "prometheus", "alertmanager", "jaeger"}
    for ingress in ingresses:
        hosts = {r["host"] for r in ingress["spec"]["rules"]}
        tls_hosts = {h for t in ingress["spec"]["tls"] for h in t["hosts"]}
        assert hosts <= tls_hosts, ingress["metadata"]["name"]
        assert ingress["spec"]["ingressClassName"] == "nginx"
        assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "vega-ca-issuer"
        assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/backend-protocol"] == "HTTPS"


def test_a_user_provided_certificate_replaces_cert_manager() -> None:
    run = run_program("prod", {"certManagerIssuer": "", "ingressTlsSecret": "vega-public-tls", "internalTlsSecret": "vega-internal"})
    assert not objects(run, "Certificate")
    for ingress in objects(run, "Ingress"):
        assert ingress["spec"]["tls"][0]["secretName"] == "vega-public-tls"
        assert "cert-manager.io/cluster-issuer" not in ingress["metadata"]["annotations"]


def test_persistent_volumes_use_the_configured_class(prod: Run) -> None:
    claims = [c for d in objects(prod, "StatefulSet") for c in d["spec"].get("volumeClaimTemplates") or []]
    assert claims
    for claim in claims:
        assert claim["spec"]["storageClassName"] == "fast-ssd"
        assert claim["spec"]["resources"]["requests"]["storage"].endswith("Gi")


def test_prometheus_replicas_are_told_apart_and_deduplicated(prod: Run, rendered: Any) -> None:
    config = yaml.safe_load((rendered("prod") / "config" / "prometheus" / "prometheus.yml").read_text())
    assert config["global"]["external_labels"]["replica"] == "${POD_NAME}"
    assert {"action": "labeldrop", "regex": "replica"} in config["alerting"]["alert_relabel_configs"]
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert len(targets) == 3 and all(".alertmanager-cluster." in t for t in targets)
    query = next(d for d in workloads(prod) if d["metadata"]["name"] == "thanos-query")
    assert "--query.replica-label=replica" in pod_spec(query)["containers"][0]["args"]


def test_alertmanager_peers_form_one_cluster(prod: Run) -> None:
    am = next(d for d in workloads(prod) if d["metadata"]["name"] == "alertmanager")
    args = pod_spec(am)["containers"][0]["args"]
    peers = [a for a in args if a.startswith("--cluster.peer=")]
    assert len(peers) == 3
    assert any(a.startswith("--cluster.tls-config=") for a in args)
    headless = next(s for s in objects(prod, "Service") if s["metadata"]["name"] == "alertmanager-cluster")
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True


def test_no_secret_value_anywhere_in_the_render(tmp_path: Path) -> None:
    from tools.render import render

    secrets = {
        "grafanaAdminPassword": "k8s-admin-password-under-test",
        "grafanaSecretKey": "k8s-secret-key-under-test-0123456789abcdef",
        "grafanaDatabasePassword": "k8s-db-password-under-test",
        "webPassword": "k8s-web-password-under-test",
        "s3AccessKeyId": "AKIAK8SUNDERTEST",
        "s3SecretAccessKey": "k8s-s3-secret-under-test",
        "alertmanagerSmtpPassword": "k8s-smtp-password-under-test",
        "jaegerStoragePassword": "k8s-opensearch-password-under-test",
    }
    counts = render("prod", tmp_path, secrets)
    assert counts["manifests"] > 50
    for path in tmp_path.rglob("*"):
        if path.is_file():
            text = path.read_text()
            for key, value in secrets.items():
                assert value not in text, f"{path.relative_to(tmp_path)} leaks {key}"


def test_secrets_reach_pods_only_through_secret_objects(prod: Run) -> None:
    for doc in [*workloads(prod), *objects(prod, "CronJob")]:
        for c in pod_spec(doc)["containers"]:
            for env in c.get("env") or []:
                if "value" in env:
                    assert "VEGA-MOCK-SECRET" not in str(env["value"]), f"{name(doc)} {env['name']}"
            assert "VEGA-MOCK-SECRET" not in " ".join(c.get("args") or []), name(doc)
    for cm in objects(prod, "ConfigMap"):
        assert "VEGA-MOCK-SECRET" not in json.dumps(cm.get("data") or {}), cm["metadata"]["name"]


def test_backups_snapshot_prometheus_and_export_grafana(prod: Run) -> None:
    jobs = {j["metadata"]["name"]: j for j in objects(prod, "CronJob")}
    for job in (jobs["prometheus-snapshot"], jobs["grafana-export"]):
        assert job["spec"]["schedule"] == "0 2 * * *"
        assert job["spec"]["concurrencyPolicy"] == "Forbid"
    snapshot_env = {e["name"]: e.get("value") for e in pod_spec(jobs["prometheus-snapshot"])["containers"][0]["env"]}
    assert snapshot_env["PROMETHEUS_TARGETS"].split() == [
        "prometheus-0.prometheus-headless.vega-observability.svc:9090",
        "prometheus-1.prometheus-headless.vega-observability.svc:9090",
    ]
    prometheus = next(d for d in workloads(prod) if d["metadata"]["name"] == "prometheus")
    containers = {c["name"]: c for c in pod_spec(prometheus)["containers"]}
    assert "--web.enable-admin-api" in containers["prometheus"]["args"]
    shipper = {e["name"]: e for e in containers["snapshot-shipper"]["env"]}
    assert shipper["S3_BUCKET"]["value"] == "vega-prod-backups"
    assert not any("valueFrom" in e and "secretKeyRef" in e["valueFrom"] for e in shipper.values())
    mounts = {m["mountPath"]: m["name"] for m in containers["snapshot-shipper"]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(prometheus)["volumes"]}
    assert volumes[mounts[shipper["S3_CREDENTIALS_DIR"]["value"]]]["secret"]["secretName"] == "s3-credentials"


def test_prod_components_follow_the_type_token_convention(prod: Run) -> None:
    components = [r for r in prod.resources if not r.custom]
    assert components
    for r in components:
        assert r.type.startswith("vega:") and r.type.count(":") == 2, r.type


def test_resources_are_named_after_their_component(prod: Run) -> None:
    for r in prod.resources:
        if r.type != "vega:stack:ObservabilityStack":
            assert r.name.startswith(f"{r.parent}-"), f"{r.name} under {r.parent}"
