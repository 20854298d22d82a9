"""What the prod stack publishes lets no one test a guess of a secret, a run that changes no
setting changes nothing, and the cluster lets in only the flows the README lists."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml
from pulumi.runtime import rpc

from components.platform.edge import VEGA_PORTS_LABEL
from components.platform.kubernetes import ROTATION_ANNOTATION
from components.platform.webconfig import bcrypt_hash, bcrypt_salt
from components.settings import PROJECT, Settings, check_image, load
from tests.conftest import ROOT, stack_run
from tools.mockrun import Run, run_program, stack_config, unwrap
from tools.render import render

STACK = "prod"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
INGRESS_CONTROLLER = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
WHOLE_INTERNET = {"0.0.0.0/0", "::/0"}
SECRET_TYPE = "kubernetes:core/v1:Secret"
ROTATION_TYPE = "random:index/randomId:RandomId"


@pytest.fixture(scope="module")
def prod() -> Run:
    return stack_run(STACK)


@pytest.fixture(scope="module")
def settings() -> Settings:
    config, _ = stack_config(STACK)
    raw = {key.split(":", 1)[1]: value for key, value in config.items() if key.startswith(f"{PROJECT}:")}
    return load(raw, STACK)


def rotated_secrets(run: Run) -> dict[str, str]:
    """Another value for every secret the stack uses: what `pulumi config set --secret` does."""
    return {key: f"{value}-rotated" for value, key in run.secrets.items()}


def objects(run: Run, kind: str | None = None) -> list[dict[str, Any]]:
    docs = [unwrap(r.inputs) for r in run.resources if r.custom and r.type.startswith("kubernetes:")]
    return [d for d in docs if kind is None or d.get("kind") == kind]


def workloads(run: Run) -> list[dict[str, Any]]:
    return [d for kind in WORKLOAD_KINDS for d in objects(run, kind)]


def pod_annotations(run: Run) -> dict[str, dict[str, str]]:
    return {d["metadata"]["name"]: d["spec"]["template"]["metadata"].get("annotations", {}) for d in workloads(run)}


def secret_text(run: Run, name: str, key: str) -> str:
    doc = next(d for d in objects(run, "Secret") if d["metadata"]["name"] == name)
    return str(doc["stringData"][key])


def web_hash(run: Run) -> str:
    """The bcrypt hash in node-exporter's web config (the Secret of the agents namespace)."""
    doc = yaml.safe_load(secret_text(run, "vega-node-exporter-secret", "web-config.yml"))
    (hashed,) = doc["basic_auth_users"].values()
    return str(hashed)


# ---------------------------------------------------------------- hashes and derived values


def test_the_bcrypt_salt_comes_from_the_stack_key_never_from_the_password() -> None:
    key, other_key = "11" * 32, "22" * 32
    first, second = bcrypt_hash(key, "vega", "first password"), bcrypt_hash(key, "vega", "second password")
    assert first[:29] == second[:29] == bcrypt_salt(key, "vega").decode(), "the salt must not depend on the password"
    assert bcrypt_hash(other_key, "vega", "first password")[:29] != first[:29], "another stack, another salt"
    assert bcrypt_hash(key, "other", "first password")[:29] != first[:29], "another user, another salt"
    assert bcrypt.checkpw(b"first password", first.encode())
    assert not bcrypt.checkpw(b"second password", first.encode())


def test_a_run_with_unchanged_settings_changes_nothing(prod: Run) -> None:
    first = {(r.type, r.name): unwrap(r.inputs) for r in prod.resources}
    second = {(r.type, r.name): unwrap(r.inputs) for r in run_program(STACK).resources}
    assert second.keys() == first.keys()
    changed = sorted(name for key, name in first if first[(key, name)] != second[(key, name)])
    assert changed == [], f"a second run with the same settings changed {changed}"


def test_the_web_password_hash_verifies_the_password_and_its_salt_survives_a_rotation(prod: Run) -> None:
    password = next(value for value, key in prod.secrets.items() if key == "webPassword")
    hashed = web_hash(prod)
    assert bcrypt.checkpw(password.encode(), hashed.encode())
    rotated = run_program(STACK, rotated_secrets(prod))
    new = web_hash(rotated)
    assert new != hashed and bcrypt.checkpw(f"{password}-rotated".encode(), new.encode())
    assert new[:29] == hashed[:29], "the salt is the stack's, not the password's"
    other_stack = run_program(STACK, into=Run(stack=STACK, random_seed="another stack"))
    assert web_hash(other_stack)[:29] != hashed[:29], "each stack draws its own salt"


def test_every_value_derived_from_a_secret_is_a_pulumi_secret(prod: Run) -> None:
    """Secrets' data, the stack key and the rotation keepers are secret Outputs, and no other
    input anywhere holds a secret value or a bcrypt hash."""
    problems = []
    for r in prod.resources:
        if r.type == SECRET_TYPE:
            data = r.inputs.get("stringData") or {}
            if not rpc.is_rpc_secret(data) and not all(rpc.is_rpc_secret(v) for v in data.values()):
                problems.append(f"{r.name}: stringData not secret")
            continue
        if r.type == ROTATION_TYPE and not rpc.is_rpc_secret(r.inputs["keepers"]):
            problems.append(f"{r.name}: keepers not secret")
        text = json.dumps(unwrap(r.inputs))
        if any(token in text for token in prod.secrets) or "$2b$" in text:
            problems.append(f"{r.name}: a secret value or a hash outside a Secret")
    assert problems == []


def changed_files(a: Path, b: Path) -> list[str]:
    rels = sorted({str(p.relative_to(a)) for p in a.rglob("*") if p.is_file()} | {
        str(p.relative_to(b)) for p in b.rglob("*") if p.is_file()
    })
    return [rel for rel in rels if not (a / rel).is_file() or not (b / rel).is_file()
            or (a / rel).read_text() != (b / rel).read_text()]


def secret_backed(out: Path) -> set[str]:
    """Render paths whose content comes from a Secret: its manifest and its mounted files."""
    paths = set()
    for manifest in (out / "manifests").glob("*_secret_*.yaml"):
        paths.add(str(manifest.relative_to(out)))
        doc = yaml.safe_load(manifest.read_text())
        annotations = doc["metadata"].get("annotations") or {}
        service = annotations.get("vega-observability/service")
        for key in doc.get("stringData") or {}:
            paths.update(str(p.relative_to(out)) for p in (out / "config" / str(service)).rglob(key.split("__")[-1]))
    return paths


def public_inputs(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """resources.json without what Pulumi keeps secret as a whole: Secrets' inputs and the
    rotation tokens' keepers (the render writes a secret mapping's entries)."""
    out = []
    for row in rows:
        if row["type"] == SECRET_TYPE:
            continue
        if row["type"] == ROTATION_TYPE:
            row = {**row, "inputs": {**row["inputs"], "keepers": "[secret]"}}
        out.append(row)
    return out


ROTATION_VALUE = re.compile(re.escape(ROTATION_ANNOTATION) + r'"?:\s*"?([0-9a-f]+)')


def test_new_secret_values_change_only_secrets_and_the_rotation_tokens(prod: Run, tmp_path: Path) -> None:
    """Outside the Secrets (and `[secret]` markers, which stay markers), a rotation changes one
    thing: the random token that rolls the pods of each workload using a changed secret."""
    before, after = tmp_path / "before", tmp_path / "after"
    render(STACK, before)
    render(STACK, after, rotated_secrets(prod))
    changed = [rel for rel in changed_files(before, after) if rel not in secret_backed(before)]
    for rel in changed:
        old, new = (before / rel).read_text(), (after / rel).read_text()
        if rel == "resources.json":
            old, new = (json.dumps(public_inputs(json.loads(t))) for t in (old, new))
        assert ROTATION_VALUE.sub("token", old) == ROTATION_VALUE.sub("token", new), f"{rel} changed beyond the token"
    rolled = {rel for rel in changed if rel.startswith("manifests/")}
    assert rolled, "a secret rotation must roll the pods that use the secrets"
    for d in workloads(prod):
        if ROTATION_ANNOTATION in d["spec"]["template"]["metadata"].get("annotations", {}):
            assert any(f"_{d['metadata']['name']}.yaml" in rel for rel in rolled), d["metadata"]["name"]


def test_the_rotation_token_is_random_per_stack_not_a_function_of_the_secrets(prod: Run) -> None:
    same_secrets_other_stack = run_program(STACK, into=Run(stack=STACK, random_seed="another stack"))
    mine, theirs = pod_annotations(prod), pod_annotations(same_secrets_other_stack)
    tokens = {name: a[ROTATION_ANNOTATION] for name, a in mine.items() if ROTATION_ANNOTATION in a}
    assert {"prometheus", "grafana", "alertmanager", "loki-distributor", "loki-ingester", "node-exporter", "thanos-query"} <= set(tokens)
    for name, token in tokens.items():
        assert theirs[name][ROTATION_ANNOTATION] != token, f"{name}: the same secrets gave the same token"
    for a in mine.values():
        assert set(a) <= {ROTATION_ANNOTATION, "checksum/config"}
        assert not any(token in json.dumps(a) for token in prod.secrets)


# ---------------------------------------------------------------- network


def test_no_network_policy_opens_the_whole_internet(prod: Run) -> None:
    for doc in objects(prod, "NetworkPolicy"):
        for direction, key in (("ingress", "from"), ("egress", "to")):
            for rule in doc["spec"].get(direction) or []:
                cidrs = {p["ipBlock"]["cidr"] for p in rule.get(key) or [] if "ipBlock" in p}
                assert not cidrs & WHOLE_INTERNET, f"{doc['metadata']['name']} {direction}: {sorted(cidrs)}"
                assert rule.get("ports"), f"{doc['metadata']['name']} {direction}: a rule on every port"
                assert rule.get(key), f"{doc['metadata']['name']} {direction}: a rule from/to anywhere"


def test_the_uis_are_reached_only_from_the_ingress_controller_pods(prod: Run, settings: Settings) -> None:
    k = settings.kubernetes
    assert k is not None
    for doc in objects(prod, "NetworkPolicy"):
        for rule in doc["spec"].get("ingress") or []:
            for peer in rule["from"]:
                namespace = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                if namespace == k.ingress_controller_namespace:
                    assert peer.get("podSelector", {}).get("matchLabels") == INGRESS_CONTROLLER, doc["metadata"]["name"]


def test_only_the_collector_pushes_logs_to_loki(prod: Run) -> None:
    distributor = next(d for d in objects(prod, "NetworkPolicy") if d["metadata"]["name"] == "allow-loki-distributor")
    pushers = {
        json.dumps(peer, sort_keys=True)
        for rule in distributor["spec"]["ingress"]
        if {"port": 3100, "protocol": "TCP"} in rule["ports"]
        for peer in rule["from"]
    }
    components = {json.loads(p).get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component") for p in pushers}
    assert all(json.loads(p).get("podSelector") for p in pushers), "no whole namespace may reach the distributors"
    assert "collector" in components and "grafana" not in components


def readme_flows() -> list[tuple[str, str, str, str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("### Allowed flows", 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("From", "---"):
            rows.append((cells[0].strip("`"), cells[1].strip("`"), cells[2].strip("`"), cells[3]))
    return rows


def _peer_name(peers: Sequence[Mapping[str, Any]], settings: Settings) -> str:
    """How the README names one side of a rendered rule."""
    k = settings.kubernetes
    assert k is not None
    cidrs = {p["ipBlock"]["cidr"] for p in peers if "ipBlock" in p}
    if cidrs:
        names = {
            "apiServerCidrs": set(k.api_server_cidrs), "nodeCidrs": set(k.node_cidrs), "externalCidrs": set(k.external_cidrs),
        }
        return next(name for name, value in names.items() if value == cidrs)
    namespaces = {p.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") for p in peers}
    pods = [p.get("podSelector", {}).get("matchLabels", {}) for p in peers]
    if pods == [INGRESS_CONTROLLER] and namespaces == {k.ingress_controller_namespace}:
        return "ingress controller pods"
    if not any(pods) and namespaces == set(k.vega_namespaces):
        return "Vega namespaces"
    (labels,) = pods
    return labels.get("app.kubernetes.io/component") or f"{labels['app.kubernetes.io/name']}-*"


def _ports(ports: Sequence[Mapping[str, Any]]) -> str:
    numbers = list(dict.fromkeys(str(p["port"]) for p in ports))
    protocols = list(dict.fromkeys(str(p["protocol"]) for p in ports))
    return ", ".join(numbers) + ("" if protocols == ["TCP"] else f" ({', '.join(protocols)})")


def is_dns(rule: Mapping[str, Any]) -> bool:
    return bool(rule["to"][0].get("podSelector", {}).get("matchLabels") == {"k8s-app": "kube-dns"})


def vega_scrape_ports(run: Run, settings: Settings) -> str:
    """The ports Prometheus' rendered config scrapes in vegaNamespaces: every target of the
    Vega jobs, every other static target that is a Service there, and the named container
    port of the pod-discovery job."""
    k = settings.kubernetes
    assert k is not None
    config_map = next(d for d in objects(run, "ConfigMap") if d["metadata"]["name"] == "vega-prometheus-config")
    prometheus = yaml.safe_load(config_map["data"]["prometheus.yml"])
    ports: set[int] = set()
    names: list[str] = []
    for job in prometheus["scrape_configs"]:
        for group in job.get("static_configs") or []:
            for target in group["targets"]:
                host, _, port = str(target).rpartition(":")
                parts = host.split(".")
                if job["job_name"].startswith("vega-") or (len(parts) > 1 and parts[1] in k.vega_namespaces):
                    ports.add(int(port))
        if any(sd.get("role") == "pod" for sd in job.get("kubernetes_sd_configs") or []):
            keep = next(r for r in job["relabel_configs"] if "__meta_kubernetes_pod_container_port_name" in r.get("source_labels", []))
            names.append(keep["regex"])
    return ", ".join([*map(str, sorted(ports)), *names])


def test_the_readme_flow_table_is_what_the_network_policies_allow(prod: Run, settings: Settings) -> None:
    policies = [d for d in objects(prod, "NetworkPolicy") if d["spec"]["podSelector"]]
    rendered = set()
    members: dict[str, list[str]] = {}
    for doc in policies:
        me = doc["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        members.setdefault(f"{doc['metadata']['labels']['app.kubernetes.io/name']}-*", []).append(me)
        members[me] = [me]
        for rule in doc["spec"].get("ingress") or []:
            rendered.add((_peer_name(rule["from"], settings), me, _ports(rule["ports"])))
        for rule in doc["spec"]["egress"]:
            if is_dns(rule):
                continue
            rendered.add((me, _peer_name(rule["to"], settings), _ports(rule["ports"])))
    rows = [
        (source, destination, vega_scrape_ports(prod, settings) if ports == VEGA_PORTS_LABEL else ports, why)
        for source, destination, ports, why in readme_flows()
    ]
    assert rows, "README: no '### Allowed flows' table"
    assert all(why for *_, why in rows), "every allowed flow says why"
    documented = set()
    for source, destination, ports, _ in rows:
        documented |= {(m, destination, ports) for m in members.get(source, [])}
        documented |= {(source, m, ports) for m in members.get(destination, [])}
    assert sorted(rendered - documented) == [], "allowed by a NetworkPolicy, missing from the README"
    assert sorted(documented - rendered) == [], "in the README, allowed by no NetworkPolicy"


def vega_egress_ports(run: Run, settings: Settings) -> str:
    k = settings.kubernetes
    assert k is not None
    policy = next(d for d in objects(run, "NetworkPolicy") if d["metadata"]["name"] == "allow-prometheus")
    (rule,) = [r for r in policy["spec"]["egress"] if not is_dns(r) and _peer_name(r["to"], settings) == "Vega namespaces"]
    return _ports(rule["ports"])


def test_a_users_scrape_job_in_a_vega_namespace_opens_its_port_and_nothing_more(
    configs_copy: Path, settings: Settings
) -> None:
    before = vega_egress_ports(stack_run(STACK), settings).split(", ")
    job = {"job_name": "trainer", "static_configs": [{"targets": ["trainer.vega-federation.svc:9102"]}]}
    (configs_copy / "prometheus" / "scrape_configs" / "trainer.yml").write_text(yaml.safe_dump({"scrape_configs": [job]}))
    run = run_program(STACK)
    after = vega_egress_ports(run, settings).split(", ")
    assert "9102" not in before and sorted(after) == sorted([*before, "9102"])
    assert vega_egress_ports(run, settings) == vega_scrape_ports(run, settings)


# ---------------------------------------------------------------- rights and workloads


def test_rbac_grants_each_discovery_role_only_what_it_reads(prod: Run, settings: Settings) -> None:
    k = settings.kubernetes
    assert k is not None
    rules = {
        (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): {
            (res, verb) for rule in d["rules"] for res in rule["resources"] for verb in rule["verbs"]
        }
        for kind in ("ClusterRole", "Role") for d in objects(prod, kind)
    }
    read = {"get", "list", "watch"}
    prometheus = "vega-observability-prometheus"
    for namespace in (k.namespace, k.agents_namespace):
        assert rules[("Role", namespace, prometheus)] == {(r, v) for r in ("endpoints", "services", "pods") for v in read}
    for namespace in k.vega_namespaces:
        assert rules[("Role", namespace, f"{prometheus}-vega")] == {("pods", v) for v in read}
    assert rules[("ClusterRole", "", f"{prometheus}-nodes")] == {("nodes", v) for v in read} | {("nodes/metrics", "get")}
    assert rules[("ClusterRole", "", "vega-observability-collector")] == {("pods", v) for v in read}
    assert len(rules) == 2 + len(k.vega_namespaces) + 2


def test_workloads_meet_the_hardening_that_needed_checkov_skips_before(prod: Run) -> None:
    for d in workloads(prod) + objects(prod, "CronJob"):
        spec = d["spec"]["jobTemplate"]["spec"]["template"]["spec"] if d["kind"] == "CronJob" else d["spec"]["template"]["spec"]
        assert not spec.get("hostPID"), d["metadata"]["name"]
        for c in spec["containers"] + spec.get("initContainers", []):
            where = f"{d['metadata']['name']}/{c['name']}"
            assert DIGEST.search(c["image"]), f"{where}: {c['image']} is not pinned by digest"
            assert not any("secretKeyRef" in (e.get("valueFrom") or {}) for e in c.get("env", [])), where
            user = c["securityContext"].get("runAsUser", spec["securityContext"].get("runAsUser"))
            if d["metadata"]["name"] != "collector":
                assert user is not None and user >= 10000, f"{where}: uid {user}"


def test_node_exporter_and_grafana_metrics_need_the_stack_credential(prod: Run, rendered: Any) -> None:
    node = yaml.safe_load(secret_text(prod, "vega-node-exporter-secret", "web-config.yml"))
    assert node["basic_auth_users"] and node["tls_server_config"]
    services = {d["metadata"]["name"]: d["metadata"]["annotations"] for d in objects(prod, "Service")}
    assert services["node-exporter"]["vega-observability/scrape"] == "https-auth"
    assert services["grafana"]["vega-observability/scrape"] == "https-auth"
    ini = (rendered(STACK) / "config" / "grafana" / "grafana.ini").read_text()
    metrics = ini.split("[metrics]", 1)[1].split("\n[", 1)[0]
    assert re.search(r"^basic_auth_username = \S+", metrics, re.M)
    assert re.search(r"^basic_auth_password = \$__file\{/etc/grafana/secrets/web_password\}", metrics, re.M)


def test_image_digests_are_checked_as_digests() -> None:
    digest = "0123456789abcdef" * 4
    assert check_image(f"prom/prometheus:v3.13.3@sha256:{digest}")
    for bad in ("prom/prometheus@sha256:latest", f"prom/prometheus@sha256:{digest[:-1]}", f"x@sha256:{digest.upper()}"):
        with pytest.raises(ValueError):
            check_image(bad)


def test_at_most_four_checkov_skips() -> None:
    skips = yaml.safe_load((ROOT / "tests" / "checkov-skips.yaml").read_text())
    assert len(skips) <= 4, [s["id"] for s in skips]
