"""Loki, the log collector and node-exporter on the prod stack, under Pulumi mocks: Loki's
parts in microservices mode at their high-availability minimum, what keeps logs through the
loss of a node (or a zone), retention, the caches, TLS between every component, secrets kept
out of plain sight, and the node agents' host access held to what they need."""

from __future__ import annotations

import fnmatch
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from components.collector import config as collector_config
from components.collector import kubernetes as collector_k8s
from components.loki import kubernetes as loki_k8s
from components.platform.kubernetes import CA_FILE, S3_CREDENTIALS_DIR, TLS_DIR
from components.settings import ConfigError, Settings, load
from components.settings.checks import quantity
from tests.conftest import stack_run
from tests.test_structural import allowlist, patterns, unknown_paths
from tools.mockrun import Run, run_program, stack_config, unwrap

NS = "vega-observability"
AGENTS_NS = "vega-observability-agents"
LOKI = {
    loki_k8s.COMPONENTS[part]: "StatefulSet" if shape.stateful else "Deployment"
    for part, shape in loki_k8s.PARTS.items()
}
CACHES = {cache.component: cache for cache in loki_k8s.CACHES.values()}
# Names the internal certificate of the services' namespace covers (KubernetesCluster).
CERT_NAMES = (f"*.{NS}.svc", f"*.*.{NS}.svc", f"*.{NS}.svc.cluster.local", f"*.*.{NS}.svc.cluster.local")
S3_KEYS = ("s3AccessKeyId", "s3SecretAccessKey")
ZONES = ["eu-central-1a", "eu-central-1b", "eu-central-1c"]

@pytest.fixture(scope="module")
def prod() -> Run:
    return stack_run("prod")


@pytest.fixture(scope="module")
def zoned() -> Run:
    return run_program("prod", {"lokiIngesterZones": ZONES, "lokiIngesterReplicas": 6})


def prod_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """The prod stack's settings, as the program reads them (secrets as sentinels)."""
    config, _ = stack_config("prod", overrides)
    return load({key.split(":", 1)[1]: value for key, value in config.items()}, "prod")


def objects(run: Run, kind: str) -> list[dict[str, Any]]:
    docs = (unwrap(r.inputs) for r in run.resources if r.custom and r.type.startswith("kubernetes:"))
    return [d for d in docs if d.get("kind") == kind]


def named(run: Run, kind: str, name: str, namespace: str = NS) -> dict[str, Any]:
    for doc in objects(run, kind):
        if doc["metadata"]["name"] == name and doc["metadata"].get("namespace") == namespace:
            return doc
    raise AssertionError(f"no {kind} {namespace}/{name}")


def pod(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]


def container(doc: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    containers = pod(doc)["containers"]
    return containers[0] if name is None else next(c for c in containers if c["name"] == name)


def loki_config(run: Run) -> dict[str, Any]:
    config_map = named(run, "ConfigMap", "vega-loki-config")
    return dict(yaml.safe_load(config_map["data"]["config.yaml"]))


def loki_workloads(run: Run) -> list[dict[str, Any]]:
    """Every Deployment and StatefulSet of Loki's parts (one per zone for zoned ingesters)."""
    docs = [*objects(run, "Deployment"), *objects(run, "StatefulSet")]
    return [d for d in docs if d["metadata"]["labels"]["app.kubernetes.io/component"] in LOKI]


def part_of(doc: dict[str, Any]) -> str:
    return str(doc["metadata"]["labels"]["app.kubernetes.io/component"]).removeprefix("loki-")


def grpc_clients(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every gRPC client block between Loki's parts, by where it sits."""
    return {
        "ingester_client": config["ingester_client"]["grpc_client_config"],
        "frontend": config["frontend"]["grpc_client_config"],
        "frontend_worker": config["frontend_worker"]["grpc_client_config"],
        "query_scheduler": config["query_scheduler"]["grpc_client_config"],
        "index_gateway_client": config["storage_config"]["tsdb_shipper"]["index_gateway_client"]["grpc_client_config"],
        "compactor_grpc_client": config["compactor_grpc_client"],
    }


def cache_clients(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        "chunks": config["chunk_store_config"]["chunk_cache_config"]["memcached_client"],
        "results": config["query_range"]["results_cache"]["cache"]["memcached_client"],
    }


def covered(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) and name.count(".") == pattern.count(".") for pattern in CERT_NAMES)


def option(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


# ---------------------------------------------------------------- Loki: no log line lost


def test_writes_go_to_three_ingesters_on_at_least_three_replicas(prod: Run) -> None:
    config = loki_config(prod)
    ingester = named(prod, "StatefulSet", "loki-ingester")
    assert config["common"]["replication_factor"] == 3
    assert ingester["spec"]["replicas"] >= 3 >= config["common"]["replication_factor"]
    assert config["common"]["ring"]["kvstore"]["store"] == "memberlist"
    wal = config["ingester"]["wal"]
    assert wal["enabled"] is True and wal["dir"].startswith("/loki/"), "the WAL lives on the ingester's volume"
    limit = container(ingester)["resources"]["limits"]["memory"]
    assert int(wal["replay_memory_ceiling"].removesuffix("MB")) < int(quantity(limit)) // 2**20


def test_every_part_runs_at_its_high_availability_minimum_from_one_config(prod: Run) -> None:
    settings = prod_settings()
    k = settings.kubernetes
    assert k is not None
    docs = {d["metadata"]["name"]: d for d in loki_workloads(prod)}
    assert {name: d["kind"] for name, d in docs.items()} == LOKI
    for name, doc in docs.items():
        part = part_of(doc)
        c = container(doc)
        assert c["args"] == ["-config.file=/etc/loki/config.yaml", f"-target={part}", "-config.expand-env=true"]
        replicas = doc["spec"]["replicas"]
        if part == "compactor":
            assert replicas == 1, "retention and compaction need exactly one compactor"
        else:
            assert replicas == k.replicas[name] >= (3 if part == "ingester" else 2), name
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        assert mounts["/etc/loki"] == "config" and mounts["/loki"] == "data"
        if doc["kind"] == "StatefulSet":
            (claim,) = doc["spec"]["volumeClaimTemplates"]
            assert claim["metadata"]["name"] == "data"
            assert claim["spec"]["resources"]["requests"]["storage"] == k.sizing[name].storage
            assert doc["spec"]["serviceName"] == f"{name}-headless"
            assert named(prod, "Service", f"{name}-headless")["spec"]["clusterIP"] == "None"
        else:
            assert "volumeClaimTemplates" not in doc["spec"]
            assert any(v["name"] == "data" and "emptyDir" in v for v in pod(doc)["volumes"]), name
    # No simple scalable target is left anywhere.
    targets = {a for d in objects(prod, "Deployment") + objects(prod, "StatefulSet")
               for c in pod(d)["containers"] for a in c.get("args", []) if a.startswith("-target=")}
    assert targets == {f"-target={part}" for part in loki_k8s.PARTS}
    assert not {"loki-write", "loki-read", "loki-backend"} & {d["metadata"]["name"] for d in objects(prod, "Service")}
    assert "ruler" not in loki_config(prod), "the stack keeps no Loki rules: no ruler"


def test_the_parts_find_each_other(prod: Run) -> None:
    config = loki_config(prod)
    scheduler = f"loki-query-scheduler-headless.{NS}.svc:9095"
    assert config["frontend"]["scheduler_address"] == config["frontend_worker"]["scheduler_address"] == scheduler
    gateway = config["storage_config"]["tsdb_shipper"]["index_gateway_client"]["server_address"]
    assert gateway == f"dns+loki-index-gateway-headless.{NS}.svc:9095"
    assert config["common"]["compactor_grpc_address"] == f"loki-compactor.{NS}.svc:9095"
    assert config["frontend"]["tail_proxy_url"] == f"https://loki-querier.{NS}.svc:3100"
    for address in (scheduler, gateway.removeprefix("dns+"), config["common"]["compactor_grpc_address"]):
        service = named(prod, "Service", address.split(".")[0])
        assert {p["name"]: p["port"] for p in service["spec"]["ports"]}["grpc"] == 9095, address


def test_compactor_enforces_the_configured_retention() -> None:
    config = yaml.safe_load(loki_k8s.render(prod_settings({"lokiRetention": "720h"}))["config.yaml"])
    assert config["limits_config"]["retention_period"] == "720h"
    compactor = config["compactor"]
    assert compactor["retention_enabled"] is True
    assert compactor["delete_request_store"] == "s3"
    assert compactor["working_directory"].startswith("/loki/")
    period = config["schema_config"]["configs"][-1]
    assert period["index"]["period"] == "24h"  # retention works on daily index tables only
    assert (period["store"], period["object_store"], period["schema"]) == ("tsdb", "s3", "v13")


# ---------------------------------------------------------------- Loki: zone-aware replication


def test_zone_aware_ingesters_keep_one_copy_per_zone(zoned: Run) -> None:
    config = loki_config(zoned)
    assert config["ingester"]["lifecycler"]["ring"]["zone_awareness_enabled"] is True
    sets = [d for d in loki_workloads(zoned) if part_of(d) == "ingester"]
    assert sorted(d["metadata"]["name"] for d in sets) == [f"loki-ingester-{zone}" for zone in ZONES]
    budgets = [b["spec"] for b in objects(zoned, "PodDisruptionBudget")]
    for doc, zone in zip(sorted(sets, key=lambda d: d["metadata"]["name"]), ZONES, strict=True):
        assert doc["spec"]["replicas"] == 2
        assert container(doc)["args"][-1] == f"-ingester.availability-zone={zone}"
        term = pod(doc)["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term["nodeSelectorTerms"] == [
            {"matchExpressions": [{"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]}]}
        ]
        labels = doc["spec"]["template"]["metadata"]["labels"]
        assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert doc["spec"]["selector"]["matchLabels"][loki_k8s.ZONE_LABEL] == zone, "the sets' pods must not overlap"
        # One budget over every zone's ingesters: a drain takes one ingester at a time.
        matching = [b for b in budgets if b["selector"]["matchLabels"].items() <= labels.items()]
        assert matching == [{"maxUnavailable": 1, "selector": {"matchLabels": {
            "app.kubernetes.io/component": "loki-ingester", "app.kubernetes.io/part-of": "vega-observability",
        }}}]
    unknown = unknown_paths(config, patterns(allowlist("loki.yaml")["paths"]))
    assert not unknown, f"keys not in the Loki 3.7 reference: {unknown}"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"lokiIngesterZones": ZONES[:2]}, ["lokiIngesterZones", "at least 3 zones"]),
        ({"lokiIngesterZones": ZONES, "lokiIngesterReplicas": 4}, ["lokiIngesterReplicas", "4", "multiple of the 3"]),
        ({"lokiIngesterZones": [*ZONES, "EU_West"]}, ["lokiIngesterZones", "'EU_West'", "topology.kubernetes.io/zone"]),
        ({"lokiIngesterReplicas": 2}, ["lokiIngesterReplicas", "2", "at least 3"]),
    ],
)
def test_refused_ingester_shapes_are_named(overrides: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(ConfigError) as failure:
        prod_settings(overrides)
    assert any(all(part in problem for part in expected) for problem in failure.value.problems), failure.value.problems


# ---------------------------------------------------------------- Loki: caches


def test_memcached_caches_serve_chunks_and_results_over_mutual_tls(prod: Run) -> None:
    k = prod_settings().kubernetes
    assert k is not None
    config = loki_config(prod)
    assert config["query_range"]["cache_results"] is True
    for cache, client in cache_clients(config).items():
        component = loki_k8s.CACHES[cache].component
        assert client["addresses"] == f"dns+{component}.{NS}.svc:11211"
        service = named(prod, "Service", component)
        assert service["spec"]["clusterIP"] == "None", "Loki resolves every memcached pod"
        doc = named(prod, "Deployment", component)
        assert doc["spec"]["replicas"] == k.replicas[component] >= 2
        c = container(doc)
        assert c["image"].startswith("memcached:") and "@sha256:" in c["image"]
        args = c["command"][4:]
        # The cache size is the memory request, the limit leaves room for connections.
        size = k.sizing[component]
        assert int(option(args, "--memory-limit")) == int(quantity(size.memory)) // 2**20
        assert quantity(size.memory_limit) > quantity(size.memory), component
        assert int(option(args, "--max-item-size").removesuffix("m")) * 2**20 == client["max_item_size"]
        assert "--enable-ssl" in args
        tls = dict(item.split("=", 1) for item in option(args, "--extended").split(","))
        assert tls == {
            "ssl_chain_cert": f"{TLS_DIR}/tls.crt", "ssl_key": f"{TLS_DIR}/tls.key", "ssl_ca_cert": CA_FILE,
            "ssl_verify_mode": "2", "ssl_min_version": "2",
        }
        assert pod(doc)["securityContext"]["fsGroup"] == c["securityContext"]["runAsUser"], "reads the key"


def test_memcached_restarts_on_a_renewed_certificate(tmp_path: Path) -> None:
    """The start script, run by a real sh with memcached replaced: it serves a copy of the
    certificate, and the liveness command fails once the mounted certificate changes."""
    tls = tmp_path / "tls"
    tls.mkdir()
    (tls / "tls.crt").write_text("first certificate\n")
    binary = tmp_path / "bin"
    binary.mkdir()
    (binary / "memcached").write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    (binary / "memcached").chmod(0o755)
    served = tmp_path / "served.crt"
    command = [part.replace(TLS_DIR, str(tls)).replace(loki_k8s.SERVED_CERT, str(served))
               for part in loki_k8s.memcached_command(64)]
    env = {"PATH": f"{binary}:/usr/bin:/bin"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True, env=env)
    assert result.stdout.splitlines() == command[4:], "memcached gets its arguments unchanged"
    live = [served if part == loki_k8s.SERVED_CERT else part for part in ("cmp", "-s", str(tls / "tls.crt"),
            loki_k8s.SERVED_CERT)]
    assert subprocess.run(live, timeout=30).returncode == 0
    (tls / "tls.crt").write_text("renewed certificate\n")
    assert subprocess.run(live, timeout=30).returncode != 0, "a renewed certificate must fail the liveness probe"


def test_the_liveness_probe_compares_the_served_certificate(prod: Run) -> None:
    for component in CACHES:
        c = container(named(prod, "Deployment", component))
        assert c["livenessProbe"]["exec"]["command"] == ["cmp", "-s", f"{TLS_DIR}/tls.crt", loki_k8s.SERVED_CERT]
        assert loki_k8s.SERVED_CERT.startswith(next(m["mountPath"] for m in c["volumeMounts"] if m["name"] == "tmp"))


# ---------------------------------------------------------------- Loki: TLS everywhere


def test_every_loki_listener_and_client_speaks_tls(prod: Run) -> None:
    config = loki_config(prod)
    server = config["server"]
    assert server["http_tls_config"] == {"cert_file": f"{TLS_DIR}/tls.crt", "key_file": f"{TLS_DIR}/tls.key"}
    assert server["grpc_tls_config"]["client_auth_type"] == "RequireAndVerifyClientCert"
    assert server["grpc_tls_config"]["client_ca_file"] == CA_FILE
    clients = {**grpc_clients(config), **cache_clients(config), "memberlist": config["memberlist"]}
    tail = {**config["frontend"]["tail_tls_config"], "tls_enabled": config["frontend"]["tail_proxy_url"].startswith("https://")}
    for where, block in {**clients, "tail": tail}.items():
        assert block["tls_enabled"] is True, where
        assert block["tls_ca_path"] == CA_FILE, where
        assert (block["tls_cert_path"], block["tls_key_path"]) == (f"{TLS_DIR}/tls.crt", f"{TLS_DIR}/tls.key"), where
        assert covered(block["tls_server_name"]), f"{where}: {block['tls_server_name']} is not in the certificate"
    for doc in [*loki_workloads(prod), *(named(prod, "Deployment", c) for c in CACHES)]:
        volumes = {v["name"]: v for v in pod(doc)["volumes"]}
        assert volumes["tls"]["secret"]["secretName"] == "vega-internal-tls"


def test_loki_services_are_scraped_over_https_and_gossip_spans_all_parts(prod: Run) -> None:
    for name in LOKI:
        service = named(prod, "Service", name)
        assert service["metadata"]["annotations"] == {
            "vega-observability/scrape": "https", "vega-observability/metrics-port": "http"
        }
        assert {p["name"]: p["port"] for p in service["spec"]["ports"]}["http"] == 3100
    gossip = named(prod, "Service", "loki-memberlist")
    assert gossip["spec"]["clusterIP"] == "None" and gossip["spec"]["publishNotReadyAddresses"] is True
    selector = gossip["spec"]["selector"]
    for doc in loki_workloads(prod):
        template_labels = doc["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= template_labels.items(), f"{doc['metadata']['name']} is not in the memberlist ring"
    for component in CACHES:
        template_labels = named(prod, "Deployment", component)["spec"]["template"]["metadata"]["labels"]
        assert not selector.items() <= template_labels.items(), f"{component} is no ring member"
    assert loki_config(prod)["memberlist"]["join_members"] == [f"dns+loki-memberlist.{NS}.svc:7946"]
    assert prod.outputs["urls"]["loki"] == f"https://loki-query-frontend.{NS}.svc:3100"


# ---------------------------------------------------------------- Loki: secrets and hardening


def test_s3_keys_reach_loki_only_as_files_of_the_s3_secret(prod: Run) -> None:
    keys = [value for value, key in prod.secrets.items() if key in S3_KEYS]
    assert len(keys) == 2
    for config_map in objects(prod, "ConfigMap"):
        text = json.dumps(config_map.get("data") or {})
        assert not any(k in text for k in keys), config_map["metadata"]["name"]
    for doc in loki_workloads(prod):
        name = doc["metadata"]["name"]
        c = container(doc)
        assert not any(k in json.dumps(c) for k in keys), name
        assert not c.get("env") and not c.get("envFrom"), f"{name}: no key in the pod spec's environment"
        assert c["command"] == loki_k8s.entrypoint() and c["args"] == loki_k8s.args(part_of(doc))
        mount = next(m for m in c["volumeMounts"] if m["mountPath"] == S3_CREDENTIALS_DIR)
        volume = next(v for v in pod(doc)["volumes"] if v["name"] == mount["name"])
        assert mount["readOnly"] is True and volume["secret"]["secretName"] == "s3-credentials"
    s3 = loki_config(prod)["common"]["storage"]["s3"]
    assert (s3["access_key_id"], s3["secret_access_key"]) == ("${AWS_ACCESS_KEY_ID}", "${AWS_SECRET_ACCESS_KEY}")
    assert s3["bucketnames"] == "vega-prod-loki"


def test_the_entrypoint_exports_the_key_files_and_runs_loki_with_its_args(tmp_path: Path) -> None:
    """The shell wrapper, run by a real sh: a key file with or without its final newline, a
    key with characters the shell must not touch, Loki's arguments passed through."""
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "access_key_id").write_text("AKIAEXAMPLE\n")
    (keys / "secret_access_key").write_text("s3cr3t/with+odd$chars 'and' \"quotes\"")
    loki = tmp_path / "loki"
    loki.write_text('#!/bin/sh\nprintf "%s\\n" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$@"\n')
    loki.chmod(0o755)
    sh, flag, script, name = loki_k8s.entrypoint()
    script = script.replace(S3_CREDENTIALS_DIR, str(keys)).replace(loki_k8s.LOKI_BINARY, str(loki))
    result = subprocess.run(
        [sh, flag, script, name, *loki_k8s.args("ingester")], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.splitlines() == [
        "AKIAEXAMPLE", "s3cr3t/with+odd$chars 'and' \"quotes\"", *loki_k8s.args("ingester")
    ]
    (keys / "secret_access_key").unlink()
    failed = subprocess.run([sh, flag, script, name], capture_output=True, text=True, timeout=30)
    assert failed.returncode != 0 and not failed.stdout, "a missing key file stops the container"


def test_key_references_survive_substitution_and_nothing_else_is_substituted(configs_copy: Path) -> None:
    text = loki_k8s.render(prod_settings())["config.yaml"]
    # Quoted: a key holding "#" or ": " stays one YAML string once Loki substitutes it.
    assert "access_key_id: '${AWS_ACCESS_KEY_ID}'\n" in text
    assert "secret_access_key: '${AWS_SECRET_ACCESS_KEY}'\n" in text
    limits = configs_copy / "loki" / "limits.yaml"
    limits.write_text(limits.read_text() + "max_query_length: ${HOME}\n")
    with pytest.raises(ConfigError, match=r"\$\{HOME\}"):
        loki_k8s.render(prod_settings())


def test_every_loki_workload_survives_a_drain_and_is_hardened(prod: Run) -> None:
    budgets = {b["metadata"]["name"]: b["spec"] for b in objects(prod, "PodDisruptionBudget")}
    caches = [named(prod, "Deployment", component) for component in CACHES]
    for doc in [*loki_workloads(prod), *caches]:
        name = doc["metadata"]["name"]
        spec = pod(doc)
        assert budgets[name] == {"maxUnavailable": 1, "selector": {"matchLabels": doc["spec"]["selector"]["matchLabels"]}}
        assert any(
            c["topologyKey"] == "kubernetes.io/hostname" and c["whenUnsatisfiable"] == "DoNotSchedule"
            for c in spec["topologySpreadConstraints"]
        ), name
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        c = container(doc)
        ctx = c["securityContext"]
        assert ctx["runAsNonRoot"] is True and ctx["readOnlyRootFilesystem"] is True, name
        assert ctx["allowPrivilegeEscalation"] is False and ctx["capabilities"] == {"drop": ["ALL"]}, name
        for bound in ("requests", "limits"):
            assert set(c["resources"][bound]) == {"cpu", "memory"}, name
        if name in CACHES:
            for probe in ("startupProbe", "readinessProbe"):
                assert c[probe]["tcpSocket"] == {"port": "memcached"}, f"{name} {probe}"
            assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"memcached": 11211}
            continue
        for probe in ("startupProbe", "readinessProbe"):
            assert c[probe]["httpGet"] == {"path": "/ready", "port": "http", "scheme": "HTTPS"}, f"{name} {probe}"
        assert c["livenessProbe"]["tcpSocket"] == {"port": "http"}, name
        assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 3100, "grpc": 9095, "memberlist": 7946}
    ingester = container(named(prod, "StatefulSet", "loki-ingester"))
    assert ingester["startupProbe"]["failureThreshold"] * ingester["startupProbe"]["periodSeconds"] >= 600  # WAL replay


# ---------------------------------------------------------------- the log collector


def host_paths(doc: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """{host path: (mount path, read-only)} of a DaemonSet's hostPath volumes."""
    volumes = {v["name"]: v["hostPath"]["path"] for v in pod(doc)["volumes"] if "hostPath" in v}
    out = {}
    for c in pod(doc)["containers"]:
        for m in c["volumeMounts"]:
            if m["name"] in volumes:
                out[volumes[m["name"]]] = (m["mountPath"], bool(m.get("readOnly")))
    assert set(out) == set(volumes.values()), "a hostPath volume is declared but not mounted"
    return out


def test_collector_runs_on_every_node_with_read_only_host_access(prod: Run) -> None:
    ds = named(prod, "DaemonSet", "collector", AGENTS_NS)
    spec = pod(ds)
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert host_paths(ds) == {
        "/var/log": ("/var/log", True),
        # The one writable host directory: positions survive a restart of the pod.
        collector_k8s.STATE_HOST_PATH: (collector_config.DATA_DIR, False),
    }
    c = container(ds)
    assert {"name": "HOSTNAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in c["env"]
    ctx = c["securityContext"]
    assert (ctx["runAsUser"], ctx["runAsNonRoot"]) == (0, False)  # the documented exception
    assert ctx["capabilities"] == {"drop": ["ALL"]} and ctx["allowPrivilegeEscalation"] is False
    assert ctx["readOnlyRootFilesystem"] is True and not ctx.get("privileged")
    assert not spec.get("hostNetwork") and not spec.get("hostPID")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/-/ready", "port": "http", "scheme": "HTTP"}
    assert c["image"].startswith("grafana/alloy:")
    assert set(c["resources"]["limits"]) == {"cpu", "memory"}


def test_collector_discovers_pods_read_only_and_is_scraped(prod: Run) -> None:
    ds = named(prod, "DaemonSet", "collector", AGENTS_NS)
    account = pod(ds)["serviceAccountName"]
    assert pod(ds)["automountServiceAccountToken"] is True
    bindings = [b for b in objects(prod, "ClusterRoleBinding") if {"kind": "ServiceAccount", "name": account, "namespace": AGENTS_NS} in b["subjects"]]
    assert len(bindings) == 1
    role = next(r for r in objects(prod, "ClusterRole") if r["metadata"]["name"] == bindings[0]["roleRef"]["name"])
    assert any("pods" in rule["resources"] for rule in role["rules"])
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}
    service = named(prod, "Service", "collector", AGENTS_NS)
    assert service["spec"]["clusterIP"] == "None"
    assert service["metadata"]["annotations"]["vega-observability/scrape"] == "http"
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"http": 12345}


def test_collector_pipeline_ships_pod_logs_to_loki_over_tls(prod: Run) -> None:
    config_map = named(prod, "ConfigMap", "vega-collector-config", AGENTS_NS)
    pipeline = yaml.safe_load(config_map["data"]["promtail-config.yaml"])
    assert pipeline["clients"] == [
        {"url": f"https://loki-distributor.{NS}.svc:3100/loki/api/v1/push", "tls_config": {"ca_file": CA_FILE}}
    ]
    jobs = {job["job_name"]: job for job in pipeline["scrape_configs"]}
    assert set(jobs) == {"kubernetes-pods", "system"}
    pods = jobs["kubernetes-pods"]
    assert pods["pipeline_stages"][0] == {"cri": {}}
    assert {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "__host__"} in pods["relabel_configs"]
    assert pipeline["positions"]["filename"].startswith(collector_config.DATA_DIR + "/")
    mounts = {m["mountPath"] for m in container(named(prod, "DaemonSet", "collector", AGENTS_NS))["volumeMounts"]}
    assert str(Path(CA_FILE).parent) in mounts


def test_promtail_variant_serves_its_own_port_and_readiness_path() -> None:
    run = run_program("prod", {"collector": "promtail"})
    ds = named(run, "DaemonSet", "collector", AGENTS_NS)
    c = container(ds)
    assert c["image"].startswith("grafana/promtail:3.6.11@sha256:")
    assert c["args"] == ["-config.file=/etc/collector/promtail-config.yaml"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http", "scheme": "HTTP"}
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 9080}
    service = named(run, "Service", "collector", AGENTS_NS)
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"http": 9080}


# ---------------------------------------------------------------- node-exporter


def test_node_exporter_reads_the_host_read_only_and_serves_tls_with_auth(prod: Run) -> None:
    ds = named(prod, "DaemonSet", "node-exporter", AGENTS_NS)
    spec = pod(ds)
    assert spec["hostNetwork"] is True and "hostPID" not in spec, "the host's /proc needs no host PID namespace"
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert spec["automountServiceAccountToken"] is False
    paths = host_paths(ds)
    assert paths == {"/proc": ("/host/proc", True), "/sys": ("/host/sys", True), "/": ("/host/root", True)}
    c = container(ds)
    assert {"--path.procfs=/host/proc", "--path.sysfs=/host/sys", "--path.rootfs=/host/root"} <= set(c["args"])
    assert "--web.config.file=/etc/node-exporter/web-config.yml" in c["args"]
    ctx = c["securityContext"]
    assert (ctx["runAsUser"], ctx["runAsNonRoot"], ctx["readOnlyRootFilesystem"]) == (65534, True, True)
    assert ctx["capabilities"] == {"drop": ["ALL"]} and ctx["allowPrivilegeEscalation"] is False
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["scheme"] == "HTTPS" and c[probe]["httpGet"]["port"] == "https"
    tls = next(v for v in spec["volumes"] if v["name"] == "tls")
    assert tls["secret"]["secretName"] == "vega-internal-tls"
    service = named(prod, "Service", "node-exporter", AGENTS_NS)
    assert service["spec"]["clusterIP"] == "None"
    assert service["metadata"]["annotations"] == {
        "vega-observability/scrape": "https-auth", "vega-observability/metrics-port": "https"
    }


def test_node_exporter_web_config_asks_for_tls_and_the_stack_credential(
    prod: Run, tmp_path: Path, tool: Callable[[str], str]
) -> None:
    web = yaml.safe_load(named(prod, "Secret", "vega-node-exporter-secret", AGENTS_NS)["stringData"]["web-config.yml"])
    assert set(web) == {"tls_server_config", "basic_auth_users"}
    assert web["tls_server_config"]["cert_file"] == f"{TLS_DIR}/tls.crt"
    password = next(value for value, key in prod.secrets.items() if key == "webPassword")
    (user, hashed), = web["basic_auth_users"].items()
    k = prod_settings().kubernetes
    assert k is not None and user == k.web_username
    assert bcrypt.checkpw(password.encode(), hashed.encode())
    promtool, openssl = tool("promtool"), tool("openssl")
    # promtool reads the certificate files the config names: point them at a throwaway pair.
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
         "-subj", "/CN=node-exporter", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    web["tls_server_config"].update(cert_file=str(cert), key_file=str(key))
    path = tmp_path / "web-config.yml"
    path.write_text(yaml.safe_dump(web))
    result = subprocess.run([promtool, "check", "web-config", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
