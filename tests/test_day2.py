"""Day 2: the changes a user makes to a running stack, each walked through the mocks.

Every change of the table runs the real program with that one change, against the committed
stack; the two runs are compared as Pulumi would: a data-bearing resource (below) must keep its
URN and every input whose change makes its provider replace it. A change that removes a data
resource must find it retained (docker: the volume stays) or protected (kubernetes: the engine
refuses, the README says how to do it by hand). Rotations: the configured Grafana password is
set on every start, and the backup jobs read the current secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.grafana import config as grafana_config
from tests.conftest import stack_run
from tools.mockrun import Resource, Run, run_program, unwrap

DOCKER_VOLUME = "docker:index/volume:Volume"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
CLAIM = "kubernetes:core/v1:PersistentVolumeClaim"
NAMESPACE = "kubernetes:core/v1:Namespace"
CLAIM_TEMPLATES = "spec.volumeClaimTemplates"

# Every resource type that holds data, with the inputs whose change makes its provider replace
# it (a docker volume has no update: every input; kubernetes: the provider's forceNew list in
# pulumi-kubernetes provider/pkg/provider/diff.go). A namespace counts when it holds a
# StatefulSet: deleting it deletes the claims. Add a new data resource type here.
DATA_TYPES: dict[str, tuple[str, ...]] = {
    DOCKER_VOLUME: ("name", "driver", "driverOpts", "labels"),
    STATEFUL_SET: (
        "metadata.name", "metadata.namespace", "spec.selector", "spec.serviceName",
        "spec.podManagementPolicy", "spec.revisionHistoryLimit",
    ),
    CLAIM: (
        "metadata.name", "metadata.namespace", "spec.accessModes", "spec.selector",
        "spec.storageClassName", "spec.volumeName",
    ),
    NAMESPACE: ("metadata.name",),
}
# Workloads and Services are no data, but replacing one takes it down at once: the same
# comparison keeps them in place too.
REPLACED_BY: dict[str, tuple[str, ...]] = {
    "kubernetes:apps/v1:Deployment": ("metadata.name", "metadata.namespace", "spec.selector"),
    "kubernetes:apps/v1:DaemonSet": ("metadata.name", "metadata.namespace", "spec.selector"),
    "kubernetes:core/v1:Service": ("metadata.name", "metadata.namespace", "spec.clusterIP"),
    **DATA_TYPES,
}
# A resource type naming storage must be listed in DATA_TYPES.
STORAGE = re.compile(r"Volume|Claim|StatefulSet|Bucket|Disk|Database")


def at(value: Any, path: str) -> Any:
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def data_resources(run: Run) -> dict[str, Resource]:
    holding = {at(r.inputs, "metadata.namespace") for r in run.of_type(STATEFUL_SET)}
    return {
        r.urn: r
        for r in run.resources
        if r.type in DATA_TYPES and (r.type != NAMESPACE or at(r.inputs, "metadata.name") in holding)
    }


def host_paths(run: Run) -> dict[tuple[str, str], str]:
    """{(workload, volume): host path}: what the node agents keep on the nodes (the
    collector's read positions) must stay where it is."""
    out = {}
    for r in run.resources:
        for volume in at(unwrap(r.inputs), "spec.template.spec.volumes") or []:
            if "hostPath" in volume:
                out[(at(r.inputs, "metadata.name"), volume["name"])] = volume["hostPath"]["path"]
    return out


def claim_names(r: Resource) -> list[str]:
    return [at(c, "metadata.name") for c in at(unwrap(r.inputs), CLAIM_TEMPLATES) or []]


# ---- the table


@dataclass(frozen=True)
class Change:
    stack: str
    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    edit: Callable[[Path], None] | None = None
    # What Pulumi does with the data for this change, when not "kept in place":
    # "retained" (a removed volume stays on the host), "refused" (a protected resource the
    # change would replace or delete: the engine stops before changing anything).
    outcome: str = "kept"

    def __str__(self) -> str:
        return f"{self.stack}: {self.name}"


def yaml_edit(rel: str, change: Callable[[Any], None]) -> Callable[[Path], None]:
    def edit(configs: Path) -> None:
        path = configs / rel
        doc = yaml.safe_load(path.read_text())
        change(doc)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))

    return edit


def first_of(doc: Mapping[str, Any], kind: type | tuple[type, ...]) -> str:
    return next(k for k, v in doc.items() if isinstance(v, kind) and not isinstance(v, bool))


def bump_first_image(doc: dict[str, Any]) -> None:
    name = next(iter(doc["images"]))
    doc["images"][name] = re.sub(r"(\d+)$", lambda m: str(int(m.group(1)) + 1), doc["images"][name])


def scale_first_threshold(doc: dict[str, Any]) -> None:
    key = first_of(doc, (int, float))
    doc[key] = doc[key] * 2 if isinstance(doc[key], int) else doc[key] / 2


def raise_first_limit(doc: dict[str, Any]) -> None:
    doc[first_of(doc, int)] += 1


def double_storage(doc: dict[str, Any]) -> None:
    for size in doc["kubernetes"].values():
        if "storage" in size:
            number, unit = re.fullmatch(r"(\d+)(\w*)", str(size["storage"])).groups()  # type: ignore[union-attr]
            size["storage"] = f"{int(number) * 2}{unit}"


def double_first_docker_memory(doc: dict[str, Any]) -> None:
    doc["docker"][next(iter(doc["docker"]))] *= 2


def edit_first_alert(configs: Path) -> None:
    for path in sorted((configs / "prometheus" / "rules").glob("*.yml")):
        text = path.read_text()
        if "summary:" in text:
            path.write_text(re.sub(r"(summary: .*)", r"\1 (edited)", text, count=1))
            return
    raise AssertionError("no alert rule with a summary under configs/prometheus/rules/")


def add_dashboard(configs: Path) -> None:
    """A dashboard of the user's own, as the dashboards folder's README describes: here a copy
    of the first one there, under a uid and title of its own."""
    folder = configs / "grafana" / "dashboards"
    doc = json.loads(sorted(folder.rglob("*.json"))[0].read_text())
    doc.update(uid="day2-dashboard", title="Day 2 dashboard")
    (folder / "day2-dashboard.json").write_text(json.dumps(doc, indent=2))


def add_scrape_job(configs: Path) -> None:
    # a Service in Vega's namespace: the address form both platforms accept
    job = {"job_name": "day2-exporter", "static_configs": [{"targets": ["day2-exporter.vega.svc:9100"]}]}
    (configs / "prometheus" / "scrape_configs" / "day2.yml").write_text(yaml.safe_dump({"scrape_configs": [job]}))


def edit_template(configs: Path) -> None:
    path = sorted((configs / "alertmanager").glob("*.tmpl"))[0]
    path.write_text(path.read_text() + '\n{{ define "vega.day2" }}edited{{ end }}\n')


def set_group_wait(doc: dict[str, Any]) -> None:
    doc["group_wait"] = "45s"


# Configs files a user edits on either stack.
CONTENT_EDITS: dict[str, Callable[[Path], None]] = {
    "an image version in versions.yaml": yaml_edit("versions.yaml", bump_first_image),
    "a threshold": yaml_edit("prometheus/thresholds.yaml", scale_first_threshold),
    "an alert rule": edit_first_alert,
    "a dashboard added": add_dashboard,
    "an extra scrape job": add_scrape_job,
    "a Loki limit": yaml_edit("loki/limits.yaml", raise_first_limit),
    "Alertmanager routing": yaml_edit("alertmanager/routing.yaml", set_group_wait),
    "an Alertmanager template": edit_template,
}

SECRET = "rotated-secret-value-0123456789"
SLACK_URL = "https://hooks.slack.com/services/T0000/B0000/rotated0123456789"

def every_content_edit(configs: Path) -> None:
    for edit in CONTENT_EDITS.values():
        edit(configs)


LOKI_ZONES = ["zone-a", "zone-b", "zone-c"]

CHANGES: list[Change] = [
    # one run per file on dev; on prod (a slower program) every file at once
    *(Change("dev", name, edit=edit) for name, edit in CONTENT_EDITS.items()),
    Change("prod", "every configs file a user edits", edit=every_content_edit),
    # dev
    Change("dev", "network rename", {"dockerNetwork": "vega-obs-renamed"}),
    Change("dev", "ports", {"grafanaPort": 3300, "prometheusPort": 9190, "lokiPort": 3110}),
    Change("dev", "bind address", {"bindAddress": "0.0.0.0", "grafanaAdminPassword": SECRET}),
    Change("dev", "scrape and evaluation interval", {"scrapeInterval": "30s", "evaluationInterval": "30s"}),
    Change("dev", "Prometheus retention", {"prometheusRetentionTime": "30d", "prometheusRetentionSize": "5GB"}),
    Change("dev", "Loki retention", {"lokiRetention": "336h"}),
    Change("dev", "collector switch", {"collector": "promtail"}),
    Change("dev", "Jaeger on badger", {"jaegerStorage": "badger"}),
    Change("dev", "Jaeger trace limit", {"jaegerMaxTraces": 100000}),
    Change("dev", "alert channels", {
        "alertmanagerWebhookUrl": "https://hooks.example.org/alertmanager", "alertmanagerSlackApiUrl": SLACK_URL,
    }),
    Change("dev", "Grafana admin password", {"grafanaAdminPassword": SECRET}),
    Change("dev", "Grafana root URL", {"grafanaRootUrl": "https://grafana.dev.example.org/"}),
    # Vega's own network and targets replace the demo Vega
    Change("dev", "Vega's network joined", {"dockerExternalNetworks": ["vega_default"], "demo": False}),
    Change("dev", "Vega targets", {"vegaApiTargets": ["vega-api:8000", "vega-api-2:8000"], "demo": False}),
    Change("dev", "memory limit", edit=yaml_edit("sizing.yaml", double_first_docker_memory)),
    Change("dev", "Alertmanager switched off", {"alertmanagerEnabled": False}, outcome="retained"),
    # prod
    Change("prod", "storage size", edit=yaml_edit("sizing.yaml", double_storage)),
    Change("prod", "storage class", {"storageClass": "fast-ssd-v2"}),
    Change("prod", "replicas", {
        "prometheusReplicas": 3, "alertmanagerReplicas": 5, "grafanaReplicas": 3, "lokiIngesterReplicas": 4,
    }),
    Change("prod", "Prometheus retention", {"prometheusRetentionTime": "30d", "prometheusRetentionSize": "80GB"}),
    Change("prod", "passwords", {
        "grafanaAdminPassword": SECRET, "webPassword": SECRET, "grafanaDatabasePassword": SECRET,
        "s3SecretAccessKey": SECRET,
    }),
    Change("prod", "alert channels", {"alertmanagerSlackApiUrl": SLACK_URL, "alertmanagerEmailTo": "sre@example.org"}),
    Change("prod", "backup schedule and bucket retention", {
        "backupSchedule": "30 3 * * *", "objectStorageRetention": "180d",
    }),
    Change("prod", "collector switch", {"collector": "promtail"}),
    Change("prod", "Jaeger on Elasticsearch", {"jaegerStorage": "elasticsearch", "jaegerStorageVersion": "8.15"}),
    Change("prod", "Grafana host and certificate issuer", {
        "grafanaHost": "dashboards.vega.example.org", "grafanaRootUrl": "https://dashboards.vega.example.org/",
        "certManagerIssuer": "vega-ca-issuer-2",
    }),
    Change("prod", "Vega namespaces", {"vegaNamespaces": ["vega", "vega-federation", "vega-lab"]}),
    Change("prod", "namespace rename", {"namespace": "vega-obs"}, outcome="refused"),
    # loki-ingester gives way to one StatefulSet per zone: flush and unprotect first (README)
    Change("prod", "Loki ingesters per zone", {"lokiIngesterZones": LOKI_ZONES}, outcome="refused"),
    Change("prod", "Alertmanager switched off", {"alertmanagerEnabled": False}, outcome="refused"),
]


_runs: dict[str, Run] = {}


def changed_run(change: Change, configs: Path) -> Run:
    """The run with `change` applied to `configs` (a private copy); once per session."""
    if str(change) not in _runs:
        if change.edit is not None:
            change.edit(configs)
        _runs[str(change)] = run_program(change.stack, dict(change.settings))
    return _runs[str(change)]


def run_with(stack: str, **settings: Any) -> Run:
    """A run of the committed stack with some settings changed; once per session."""
    return changed_run(Change(stack, f"settings {sorted(settings.items())}", settings), Path("/nonexistent"))


def table_change(stack: str, name: str) -> Change:
    return next(c for c in CHANGES if c.stack == stack and c.name == name)


def replacements(before: Run, after: Run, types: Mapping[str, tuple[str, ...]]) -> dict[str, list[str]]:
    """{URN: the inputs that differ} for each resource of `types` that `after` replaces."""
    new = {r.urn: r for r in after.resources}
    out: dict[str, list[str]] = {}
    for r in before.resources:
        if r.type not in types or r.urn not in new:
            continue
        old_inputs, new_inputs = unwrap(r.inputs), unwrap(new[r.urn].inputs)
        differ = [p for p in types[r.type] if at(old_inputs, p) != at(new_inputs, p)]
        if r.type == STATEFUL_SET:
            if claim_names(r) != claim_names(new[r.urn]):
                differ.append(f"{CLAIM_TEMPLATES} names (the claims' names)")
            elif at(old_inputs, CLAIM_TEMPLATES) != at(new_inputs, CLAIM_TEMPLATES) and (
                CLAIM_TEMPLATES not in new[r.urn].ignore_changes
            ):
                differ.append(CLAIM_TEMPLATES)
        if differ:
            out[r.urn] = differ
    return out


@pytest.mark.parametrize("change", CHANGES, ids=str)
def test_no_day2_change_loses_data(change: Change, configs_copy: Path) -> None:
    before = stack_run(change.stack)
    after = changed_run(change, configs_copy)
    assert [unwrap(r.inputs) for r in before.resources] != [unwrap(r.inputs) for r in after.resources], (
        f"{change}: the change changes nothing (the table no longer matches the content)"
    )
    old, new = data_resources(before), data_resources(after)
    replaced = replacements(before, after, REPLACED_BY)
    gone = [urn for urn in old if urn not in new]
    if change.outcome == "kept":
        assert not gone, f"{change}: deletes {gone}"
        assert not replaced, f"{change}: replaces {replaced}"
        was, now = host_paths(before), host_paths(after)
        moved = {k: (was[k], now[k]) for k in was.keys() & now.keys() if was[k] != now[k]}
        assert not moved, f"{change}: moves data on the nodes {moved}"
    else:
        touched = [old[u] for u in [*gone, *replaced] if u in old]
        assert touched, f"{change}: expected to touch a data resource"
        for r in touched:
            if change.outcome == "retained":
                assert r.retain_on_delete and r.urn in gone, f"{change}: {r.urn} is not retained"
            else:
                assert r.protect, f"{change}: {r.urn} would be replaced or deleted unprotected"


@pytest.mark.parametrize("name", ["storage size", "storage class"])
def test_claim_templates_change_only_where_ignored(name: str, configs_copy: Path) -> None:
    """A new size or class reaches the StatefulSets' claim templates, which the engine then
    ignores: the StatefulSet stays, the claims are changed by hand (README)."""
    before = stack_run("prod")
    after = {r.urn: r for r in changed_run(table_change("prod", name), configs_copy).of_type(STATEFUL_SET)}
    grown = [r for r in before.of_type(STATEFUL_SET) if at(unwrap(r.inputs), CLAIM_TEMPLATES)
             != at(unwrap(after[r.urn].inputs), CLAIM_TEMPLATES)]
    assert grown, f"{name}: changed no claim template"
    for r in grown:
        assert CLAIM_TEMPLATES in after[r.urn].ignore_changes


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_data_resource_is_protected(stack: str) -> None:
    runs = [stack_run(stack)]
    if stack == "dev":
        runs.append(run_with("dev", jaegerStorage="badger"))  # the one optional volume
    for run in runs:
        data = data_resources(run)
        assert data, f"{stack}: no data resource found"
        for r in run.resources:
            if STORAGE.search(r.type.split(":")[-1]):
                assert r.type in DATA_TYPES, f"{r.type} holds data: add it to DATA_TYPES"
        for r in data.values():
            assert r.protect or r.retain_on_delete, f"{r.urn}: neither protected nor retained on delete"
            if r.type == DOCKER_VOLUME:
                # Retained, and named once: a stack created under an older naming keeps its volumes.
                assert r.retain_on_delete and "name" in r.ignore_changes, r.urn
            if r.type == STATEFUL_SET:
                assert r.protect and CLAIM_TEMPLATES in r.ignore_changes, r.urn


@pytest.mark.parametrize("zones", [[], LOKI_ZONES], ids=["one set", "per zone"])
def test_loki_keeps_its_wal_and_compactor_work_on_protected_claims(zones: list[str]) -> None:
    run = run_with("prod", lokiIngesterZones=zones) if zones else stack_run("prod")
    sets = {at(r.inputs, "metadata.name"): r for r in data_resources(run).values() if r.type == STATEFUL_SET}
    ingesters = [f"loki-ingester-{zone}" for zone in zones] or ["loki-ingester"]
    for name in [*ingesters, "loki-compactor"]:
        assert name in sets, f"{name} is not among the data resources"
        assert claim_names(sets[name]) == ["data"], name
        assert sets[name].protect and CLAIM_TEMPLATES in sets[name].ignore_changes, name
    assert not {"loki-write", "loki-read", "loki-backend"} & set(sets)


def test_docker_volume_names_depend_on_no_setting() -> None:
    base = {v.name: v.inputs["name"] for v in stack_run("dev").of_type(DOCKER_VOLUME)}
    renamed = {v.name: v.inputs["name"] for v in run_with("dev", dockerNetwork="elsewhere").of_type(DOCKER_VOLUME)}
    assert base == renamed
    # the names existing stacks have: those of the default network
    assert all(name.startswith("vega-observability-") for name in base.values()), base


# ---- rotations


def grafana_container(run: Run) -> Resource:
    return next(r for r in run.of_type("docker:index/container:Container") if r.name.endswith("grafana-container"))


def reset_command(command: str) -> str:
    """The password file the command feeds to `grafana cli admin reset-admin-password`."""
    match = re.search(r"grafana cli .*admin reset-admin-password --password-from-stdin.*< (\S+)", command)
    assert match, f"no admin password reset in {command!r}"
    return match.group(1)


def test_dev_grafana_sets_the_configured_password_before_every_start() -> None:
    before = grafana_container(stack_run("dev"))
    entry = before.inputs["entrypoints"]
    assert entry[:2] == ["/bin/sh", "-c"]
    password_file = reset_command(entry[2])
    assert entry[2].endswith("&& exec /run.sh"), "the server must start only after the reset"
    uploads = {u["file"]: u for u in unwrap(before.inputs["uploads"])}
    assert password_file in uploads, "the reset reads a file the container does not get"
    after = grafana_container(run_with("dev", grafanaAdminPassword=SECRET))
    new_uploads = {u["file"]: u for u in unwrap(after.inputs["uploads"])}
    # a new password is a new upload: the container is replaced, so the reset runs again
    assert new_uploads[password_file]["content"] == SECRET
    assert uploads[password_file]["content"] != SECRET


def deployment(run: Run, name: str) -> dict[str, Any]:
    return unwrap(next(r for r in run.of_type("kubernetes:apps/v1:Deployment") if at(r.inputs, "metadata.name") == name).inputs)


def secret_holding(run: Run, volume: dict[str, Any]) -> dict[str, Any]:
    name = volume["secret"]["secretName"]
    return unwrap(next(r for r in run.of_type("kubernetes:core/v1:Secret") if at(r.inputs, "metadata.name") == name).inputs)


def mounted_secret_file(run: Run, pod: dict[str, Any], container: dict[str, Any], path: str) -> str:
    """The value of the Secret key a container sees at `path`."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in container["volumeMounts"]:
        prefix = mount["mountPath"].rstrip("/") + "/"
        volume = volumes[mount["name"]]
        if path.startswith(prefix) and "secret" in volume:
            rel = path[len(prefix):]
            key = next((i["key"] for i in volume["secret"].get("items", []) if i["path"] == rel), rel)
            return str(secret_holding(run, volume)["stringData"][key])
    raise AssertionError(f"{container['name']}: nothing mounted at {path}")


def test_prod_grafana_sets_the_configured_password_in_the_shared_database() -> None:
    before = stack_run("prod")
    after = run_with("prod", grafanaAdminPassword=SECRET)
    for run in (before, after):
        pod = deployment(run, "grafana")["spec"]["template"]["spec"]
        init = {c["name"]: c for c in pod.get("initContainers", [])}
        assert "reset-admin-password" in init, "no init container sets the admin password"
        reset = init["reset-admin-password"]
        server = next(c for c in pod["containers"] if c["name"] == "grafana")
        assert reset["image"] == server["image"] and reset["env"] == server["env"]
        assert reset["volumeMounts"] == server["volumeMounts"], "the reset must read the server's config"
        password = mounted_secret_file(run, pod, reset, reset_command(reset["command"][-1]))
        assert (password == SECRET) == (run is after)
    # the rotation rolls the pods, so every replica's init container runs again
    annotations = [deployment(r, "grafana")["spec"]["template"]["metadata"]["annotations"] for r in (before, after)]
    assert annotations[0] != annotations[1]


def cron_job(run: Run, name: str) -> dict[str, Any]:
    return unwrap(next(r for r in run.of_type("kubernetes:batch/v1:CronJob") if at(r.inputs, "metadata.name") == name).inputs)


def test_backup_export_reads_the_current_password() -> None:
    for overrides, expected in (({}, None), ({"grafanaAdminPassword": SECRET}, SECRET)):
        run = run_with("prod", **overrides) if overrides else stack_run("prod")
        pod = cron_job(run, "grafana-export")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        # the job reads the password from a file when it runs, never from its own spec
        assert not any(SECRET in json.dumps(v) for v in env.values())
        password = mounted_secret_file(run, pod, container, str(env["GRAFANA_PASSWORD_FILE"]))
        grafana = deployment(run, "grafana")["spec"]["template"]["spec"]
        server = next(c for c in grafana["containers"] if c["name"] == "grafana")
        admin = mounted_secret_file(run, grafana, server, grafana_config.ADMIN_PASSWORD_FILE)
        assert password == admin, "the export must log in with the password Grafana is given"
        assert (password == SECRET) == (expected == SECRET)
