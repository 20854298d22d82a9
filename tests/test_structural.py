"""Structural checks of the configs no binary here can validate: Grafana, Loki, the log
collector (Promtail/Alloy) and Jaeger, on every committed stack's render.

Every key path must be one the upstream documentation of the pinned version lists
(allowlists in tests/structural/, each naming its source), and the settings that matter are
checked for their meaning: retention really on, low-cardinality log labels, pinned datasource
UIDs, escaped `$`, the ports the stack probes and scrapes. Each checker is also shown to
catch a broken config.
"""

from __future__ import annotations

import configparser
import copy
import fnmatch
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from components.settings import PROJECT, Settings, configs_dir, load, parse_duration
from tests.conftest import ROOT, STACKS
from tools.dashboard_queries import dashboard_files
from tools.mockrun import stack_config
from tools.render import render

STRUCTURAL = ROOT / "tests" / "structural"
Segments = tuple[str, ...]

# --------------------------------------------------------------------------- key allowlists


def segments(path: str) -> Segments:
    """'a.b[].c' -> ('a', 'b', '[]', 'c')."""
    out: list[str] = []
    for part in path.split("."):
        while part.endswith("[]"):
            part = part[:-2]
            out += [part, "[]"] if part else ["[]"]
            part = ""
        if part:
            out.append(part)
    return tuple(out)


def shown(path: Segments) -> str:
    text = ""
    for seg in path:
        text += "[]" if seg == "[]" else (f".{seg}" if text else seg)
    return text


@cache
def allowlist(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((STRUCTURAL / name).read_text())
    return doc


def patterns(entries: Sequence[str]) -> list[Segments]:
    return [segments(entry) for entry in entries]


def leaves(node: Any, prefix: Segments = ()) -> Iterator[tuple[Segments, Any]]:
    """Every leaf key path with its value; a list of mappings adds a `[]` segment, a list
    of scalars is a leaf."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from leaves(value, (*prefix, str(key)))
    elif isinstance(node, list) and any(isinstance(item, dict) for item in node):
        for item in node:
            yield from leaves(item, (*prefix, "[]"))
    else:
        yield prefix, node


def _same(path: Segments, pattern: Segments) -> bool:
    return len(path) == len(pattern) and all(
        (seg == pat) if "[]" in (seg, pat) else fnmatch.fnmatchcase(seg, pat) for seg, pat in zip(path, pattern, strict=True)
    )


def unknown_paths(doc: Any, allowed: Sequence[Segments], normalize: Callable[[Segments], Segments] | None = None) -> list[str]:
    """Leaf key paths of `doc` the allowlist does not contain. An empty or null value may
    stop at a path that leads to an allowed one (`processors: {batch: {}}`)."""
    bad = set()
    for path, value in leaves(doc):
        path = normalize(path) if normalize else path
        if any(_same(path, pattern) for pattern in allowed):
            continue
        if value in (None, {}, []) and any(_same(path, pattern[: len(path)]) for pattern in allowed if len(pattern) > len(path)):
            continue
        bad.add(shown(path))
    return sorted(bad)


def component_type(path: Segments) -> Segments:
    """OpenTelemetry component ids are `type[/name]`: check `otlp/extra` as `otlp`."""
    if len(path) > 1 and path[0] in ("receivers", "processors", "exporters", "extensions", "connectors"):
        return (path[0], path[1].split("/")[0], *path[2:])
    return path


def datasource_unknown_paths(doc: Mapping[str, Any]) -> list[str]:
    spec = allowlist("grafana-datasources.yaml")
    outer = copy.deepcopy(dict(doc))
    for ds in outer.get("datasources") or []:
        for key in ("jsonData", "secureJsonData"):
            if key in ds:
                ds[key] = {}
    bad = unknown_paths(outer, patterns(spec["paths"]))
    common = spec["jsonData"]["common"]
    for ds in doc.get("datasources") or []:
        where = f"datasources[{ds.get('name')}]"
        kind = str(ds.get("type"))
        if kind not in spec["jsonData"]:
            bad.append(f"{where}: type {kind!r} has no jsonData allowlist in grafana-datasources.yaml")
            continue
        allowed = patterns([*common, *spec["jsonData"][kind]])
        bad += [f"{where}.jsonData.{p}" for p in unknown_paths(ds.get("jsonData") or {}, allowed)]
        bad += [f"{where}.secureJsonData.{p}" for p in unknown_paths(ds.get("secureJsonData") or {}, patterns(spec["secureJsonData"]))]
    return bad


def read_ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True, comment_prefixes=(";", "#"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string("[__top__]\n" + text)
    return parser


def ini_unknown_keys(text: str) -> list[str]:
    spec = allowlist("grafana-ini.yaml")
    parser = read_ini(text)
    bad = []
    for section in parser.sections():
        allowed = spec["top"] if section == "__top__" else spec["sections"].get(section)
        if allowed is None:
            bad.append(f"[{section}]")
            continue
        bad += [f"[{section}] {key}" for key in parser[section] if key not in allowed]
    return bad


# --------------------------------------------------------------------------- meaning checks

SEED_FIELDS = {"timestamp", "level", "module", "participant_id", "round", "trace_id"}
LABEL_FIELDS = {"level", "module"}
METADATA_FIELDS = {"participant_id", "round", "trace_id"}
GRAFANA_EXPANSION = re.compile(r"\$__(env|file|vault)\{[^}]*\}")
BUILTIN_DATASOURCES = {"-- Grafana --", "grafana", "-- Mixed --", "-- Dashboard --"}


def strings(node: Any, prefix: Segments = ()) -> Iterator[tuple[Segments, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from strings(value, (*prefix, str(key)))
    elif isinstance(node, list):
        for item in node:
            yield from strings(item, (*prefix, "[]"))
    elif isinstance(node, str):
        yield prefix, node


def unescaped_dollars(doc: Any) -> list[str]:
    """Grafana expands `$NAME` and `${NAME}` in provisioning files (undefined: empty) and turns
    `$$` into `$`; only its own `$__env{}`, `$__file{}` and `$__vault{}` may stay unescaped."""
    bad = []
    for path, value in strings(doc):
        rest = GRAFANA_EXPANSION.sub("", value.replace("$$", ""))
        if "$" in rest:
            bad.append(f"{shown(path)}: {value}")
    return bad


def retention_problems(loki: Mapping[str, Any], retention: str) -> list[str]:
    problems = []
    compactor = loki.get("compactor") or {}
    if compactor.get("retention_enabled") is not True:
        problems.append("compactor.retention_enabled is not true: retention_period is never applied")
    periods = (loki.get("schema_config") or {}).get("configs") or []
    stores = {str(p.get("object_store")) for p in periods}
    store = compactor.get("delete_request_store")
    if not store:
        problems.append("compactor.delete_request_store is unset: Loki refuses retention without it")
    elif store not in stores:
        problems.append(f"compactor.delete_request_store {store!r} is not an object store of schema_config ({sorted(stores)})")
    have = (loki.get("limits_config") or {}).get("retention_period")
    if have is None or parse_duration(str(have)) != parse_duration(retention):
        problems.append(f"limits_config.retention_period is {have!r}, the stack's lokiRetention is {retention!r}")
    if not periods:
        problems.append("schema_config.configs is empty")
    else:
        current = max(periods, key=lambda p: str(p.get("from")))
        if current.get("store") != "tsdb":
            problems.append(f"the current schema uses store {current.get('store')!r}, retention needs tsdb")
        if (current.get("index") or {}).get("period") != "24h":
            problems.append("the current schema's index.period is not 24h, which retention needs")
        if current.get("schema") != "v13":
            problems.append("the current schema is not v13, which structured metadata needs")
    if (loki.get("limits_config") or {}).get("allow_structured_metadata") is False:
        problems.append("limits_config.allow_structured_metadata is false: the pipeline's metadata is refused")
    return problems


def container_job(job: Mapping[str, Any]) -> bool:
    """Jobs that read containers' output (Vega's JSON logs), not host files."""
    return bool(job.get("docker_sd_configs") or job.get("kubernetes_sd_configs"))


def stages(job: Mapping[str, Any], kind: str) -> list[Any]:
    return [stage[kind] for stage in job.get("pipeline_stages") or [] if isinstance(stage, dict) and kind in stage]


def pipeline_problems(collector: Mapping[str, Any], platform: str) -> list[str]:
    problems = []
    jobs = collector.get("scrape_configs") or []
    if not any(container_job(job) for job in jobs):
        problems.append("no job reads container logs")
    for job in jobs:
        name = job.get("job_name")
        labels: set[str] = set()
        for stage in stages(job, "labels"):
            labels |= set(stage or {})
        metadata: set[str] = set()
        for stage in stages(job, "structured_metadata"):
            metadata |= set(stage or {})
        static = {k for s in job.get("static_configs") or [] for k in (s.get("labels") or {}) if not k.startswith("__")}
        relabelled = {r.get("target_label") for r in job.get("relabel_configs") or [] if r.get("target_label")}
        high = (labels | static | relabelled) & METADATA_FIELDS
        if high:
            problems.append(f"{name}: {sorted(high)} would be stream labels (high cardinality); use structured_metadata")
        if labels - LABEL_FIELDS:
            problems.append(f"{name}: the labels stage sets {sorted(labels - LABEL_FIELDS)}; only {sorted(LABEL_FIELDS)} are labels")
        if not container_job(job):
            continue
        extracted: set[str] = set()
        for stage in stages(job, "json"):
            extracted |= {str(v) for v in ((stage or {}).get("expressions") or {}).values()}
        if SEED_FIELDS - extracted:
            problems.append(f"{name}: the json stage does not extract {sorted(SEED_FIELDS - extracted)}")
        if labels != LABEL_FIELDS:
            problems.append(f"{name}: labels stage {sorted(labels)}, expected {sorted(LABEL_FIELDS)}")
        if metadata != METADATA_FIELDS:
            problems.append(f"{name}: structured_metadata {sorted(metadata)}, expected {sorted(METADATA_FIELDS)}")
        if not any((s or {}).get("source") == "timestamp" for s in stages(job, "timestamp")):
            problems.append(f"{name}: no timestamp stage reads the log's timestamp field")
        first = (job.get("pipeline_stages") or [{}])[0]
        if platform == "kubernetes" and job.get("kubernetes_sd_configs") and "cri" not in first:
            problems.append(f"{name}: on kubernetes the first stage must be cri (pod log files are CRI-wrapped)")
    return problems


def components_used(service: Mapping[str, Any]) -> set[tuple[str, str]]:
    used = {("extensions", str(e)) for e in service.get("extensions") or []}
    for pipeline in (service.get("pipelines") or {}).values():
        for kind in ("receivers", "processors", "exporters"):
            used |= {(kind, str(c)) for c in (pipeline or {}).get(kind) or []}
    return used


def jaeger_problems(jaeger: Mapping[str, Any], storage: str) -> list[str]:
    problems = []
    missing = sorted(f"{kind}.{name}" for kind, name in components_used(jaeger.get("service") or {}) if name not in (jaeger.get(kind) or {}))
    if missing:
        problems.append(f"the service uses undefined components {missing}")
    used = components_used(jaeger.get("service") or {})
    # The kubernetes query server runs only the query extension (a nop pipeline): OTLP is
    # checked wherever an otlp receiver is in use.
    protocols = ((jaeger.get("receivers") or {}).get("otlp") or {}).get("protocols") or {}
    for protocol, port in (("grpc", 4317), ("http", 4318)) if ("receivers", "otlp") in used or protocols else ():
        endpoint = (protocols.get(protocol) or {}).get("endpoint")
        if endpoint != f"0.0.0.0:{port}":
            problems.append(f"receivers.otlp.protocols.{protocol}.endpoint is {endpoint!r}, expected 0.0.0.0:{port}")
    extensions = jaeger.get("extensions") or {}
    backends = (extensions.get("jaeger_storage") or {}).get("backends") or {}
    for name, backend in backends.items():
        if set(backend or {}) != {storage}:
            problems.append(f"storage backend {name} is {sorted(backend or {})}, the stack's jaegerStorage is {storage!r}")
    wanted = {}
    if "jaeger_query" in extensions:
        wanted["jaeger_query.storage.traces"] = ((extensions.get("jaeger_query") or {}).get("storage") or {}).get("traces")
    if "jaeger_storage_exporter" in (jaeger.get("exporters") or {}):
        wanted["jaeger_storage_exporter.trace_storage"] = (jaeger["exporters"]["jaeger_storage_exporter"] or {}).get("trace_storage")
    if not wanted:
        problems.append("neither jaeger_query nor jaeger_storage_exporter uses the storage")
    for where, name in wanted.items():
        if name not in backends:
            problems.append(f"{where} names {name!r}, not a backend of jaeger_storage ({sorted(backends)})")
    return problems


def health_endpoint(jaeger: Mapping[str, Any]) -> tuple[int, str]:
    http = ((jaeger.get("extensions") or {}).get("healthcheckv2") or {}).get("http") or {}
    port = int(str(http.get("endpoint", "localhost:13133")).rsplit(":", 1)[1])
    status = http.get("status") or {}
    return port, str(status.get("path") or "/status")


def metrics_ports(jaeger: Mapping[str, Any]) -> set[int]:
    readers = (((jaeger.get("service") or {}).get("telemetry") or {}).get("metrics") or {}).get("readers") or []
    return {int(r["pull"]["exporter"]["prometheus"]["port"]) for r in readers if "pull" in r}


def dashboard_problems(dashboard: Mapping[str, Any], uids: set[str], types_by_uid: Mapping[str, str]) -> list[str]:
    """Datasources a dashboard refers to that Grafana will not have: unknown UIDs, names
    instead of UIDs, variables that are not datasource variables of a provisioned type."""
    variables = {
        str(v.get("name")): str(v.get("query"))
        for v in (dashboard.get("templating") or {}).get("list") or []
        if v.get("type") == "datasource"
    }
    problems = []
    for name, kind in sorted(variables.items()):
        if kind not in types_by_uid.values():
            problems.append(f"variable ${name} selects datasources of type {kind!r}; none is provisioned")
    refs: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ds = node.get("datasource")
            if isinstance(ds, dict) and isinstance(ds.get("uid"), str):
                refs.add(ds["uid"])
                kind, provisioned = ds.get("type"), types_by_uid.get(ds["uid"])
                if kind and provisioned and kind != provisioned:
                    problems.append(f"datasource uid {ds['uid']!r} is of type {provisioned!r}, the panel says {kind!r}")
            elif isinstance(ds, str):
                refs.add(ds)
            if isinstance(node.get("datasourceUid"), str):
                refs.add(node["datasourceUid"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(dashboard)
    for ref in sorted(refs - BUILTIN_DATASOURCES):
        if ref.startswith("$"):
            variable = ref.strip("${}").split(":")[0]
            if variable not in variables:
                problems.append(f"datasource {ref} is not a datasource variable of the dashboard")
        elif ref not in uids:
            problems.append(f"datasource uid {ref!r} is not provisioned ({sorted(uids)})")
    return problems


# --------------------------------------------------------------------------- the stacks


@cache
def stack_settings(stack: str) -> Settings:
    config, _ = stack_config(stack)
    raw = {key.split(":", 1)[1]: value for key, value in config.items() if key.startswith(f"{PROJECT}:")}
    return load(raw, stack)


def config_dir(out: Path) -> Path:
    return out / "config"


def files(out: Path, pattern: str) -> list[Path]:
    return sorted(p for p in config_dir(out).glob(pattern) if p.is_file() and "secrets" not in p.relative_to(out).parts)


def one(out: Path, pattern: str) -> Path:
    found = files(out, pattern)
    assert found, f"no {pattern} in the render"
    return found[0]


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


LOKI = "loki*/config.yaml"
COLLECTOR = "collector*/promtail-config.yaml"
JAEGER = "jaeger*/*.yaml"  # config.yaml on docker; collector.yaml and query.yaml on kubernetes
GRAFANA_INI = "grafana/grafana.ini"
DATASOURCES = "grafana/provisioning/datasources/*.y*ml"
DASHBOARD_PROVIDERS = "grafana/provisioning/dashboards/*.y*ml"

# Every rendered config file and what checks it (here or in the other test modules).
CHECKED_FILES = {
    "prometheus/prometheus.yml": "promtool check config (test_render.py)",
    "prometheus/rules/*.yml": "promtool check rules, promtool test rules",
    "*/web-config.yml": "promtool check web-config (test_validators.py)",
    "alertmanager/alertmanager.yml": "amtool check-config, amtool config routes test",
    "alertmanager/templates/*.tmpl": "amtool check-config with the rendered templates",
    GRAFANA_INI: "grafana-ini.yaml allowlist",
    DATASOURCES: "grafana-datasources.yaml allowlist, $ escapes",
    DASHBOARD_PROVIDERS: "grafana-dashboard-providers.yaml allowlist, $ escapes",
    "grafana/dashboards/*.json": "datasource UIDs",
    LOKI: "loki.yaml allowlist, retention",
    COLLECTOR: "promtail.yaml allowlist, labels and parsing",
    JAEGER: "jaeger.yaml allowlist, receivers, storage, endpoints",
    "vega-*/demo/*.py": "the demo program: the repository's demo/ sources, run as uploaded (test_demo_stack.py)",
}


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_config_file_has_a_check(rendered: Callable[[str], Path], stack: str) -> None:
    root = config_dir(rendered(stack))
    unchecked = [
        rel
        for path in sorted(root.rglob("*"))
        if path.is_file() and "secrets" not in (rel := path.relative_to(root).as_posix()).split("/")
        and not any(fnmatch.fnmatchcase(rel, pattern) for pattern in CHECKED_FILES)
    ]
    assert not unchecked, f"rendered files no test checks (add a check and an entry in CHECKED_FILES): {unchecked}"


# ---- key paths against the upstream documentation


@pytest.mark.parametrize("stack", STACKS)
def test_loki_keys_are_documented(rendered: Callable[[str], Path], stack: str) -> None:
    for path in files(rendered(stack), LOKI):
        bad = unknown_paths(load_yaml(path), patterns(allowlist("loki.yaml")["paths"]))
        assert not bad, f"{path.name}: keys not in the Loki 3.7 reference: {bad}"


@pytest.mark.parametrize("stack", STACKS)
def test_collector_keys_are_documented(rendered: Callable[[str], Path], stack: str) -> None:
    path = one(rendered(stack), COLLECTOR)
    bad = unknown_paths(load_yaml(path), patterns(allowlist("promtail.yaml")["paths"]))
    assert not bad, f"{path.name}: keys not in the Promtail 3.6 reference: {bad}"


@pytest.mark.parametrize("stack", STACKS)
def test_jaeger_keys_are_documented(rendered: Callable[[str], Path], stack: str) -> None:
    for path in files(rendered(stack), JAEGER):
        bad = unknown_paths(load_yaml(path), patterns(allowlist("jaeger.yaml")["paths"]), component_type)
        assert not bad, f"{path.name}: keys not in the Jaeger v2 / collector references: {bad}"


@pytest.mark.parametrize("stack", STACKS)
def test_grafana_keys_are_documented(rendered: Callable[[str], Path], stack: str) -> None:
    out = rendered(stack)
    bad = ini_unknown_keys(one(out, GRAFANA_INI).read_text())
    for path in files(out, DATASOURCES):
        bad += [f"{path.name}: {p}" for p in datasource_unknown_paths(load_yaml(path))]
    providers = patterns(allowlist("grafana-dashboard-providers.yaml")["paths"])
    for path in files(out, DASHBOARD_PROVIDERS):
        bad += [f"{path.name}: {p}" for p in unknown_paths(load_yaml(path), providers)]
    assert not bad, f"keys not in the Grafana 13 provisioning / configuration reference: {bad}"


@pytest.fixture(scope="session")
def badger_render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docker stack with persistent traces, so the badger keys are checked too."""
    out = tmp_path_factory.mktemp("render-badger")
    render("dev", out, {"jaegerStorage": "badger"})
    return out


@pytest.mark.skipif("dev" not in STACKS, reason="no dev stack")
def test_jaeger_badger_keys_are_documented(badger_render: Path) -> None:
    doc = load_yaml(one(badger_render, JAEGER))
    assert not unknown_paths(doc, patterns(allowlist("jaeger.yaml")["paths"]), component_type)
    assert not jaeger_problems(doc, "badger")


# ---- what the settings mean


@pytest.mark.parametrize("stack", STACKS)
def test_loki_retention_is_really_on(rendered: Callable[[str], Path], stack: str) -> None:
    retention = stack_settings(stack).loki.retention
    for path in files(rendered(stack), LOKI):
        assert not retention_problems(load_yaml(path), retention), path


def test_dev_keeps_logs_for_168h() -> None:
    if "dev" not in STACKS:
        pytest.skip("no dev stack")
    assert stack_settings("dev").loki.retention == "168h"


@pytest.mark.parametrize("stack", STACKS)
def test_collector_ships_low_cardinality_parsed_logs_to_the_stacks_loki(rendered: Callable[[str], Path], stack: str) -> None:
    out = rendered(stack)
    settings = stack_settings(stack)
    collector = load_yaml(one(out, COLLECTOR))
    problems = pipeline_problems(collector, settings.platform)
    clients = collector.get("clients") or []
    url = clients[0].get("url") if clients else None
    if settings.platform == "docker":
        if url != "http://loki:3100/loki/api/v1/push":
            problems.append(f"clients[0].url is {url!r}, the stack's Loki push URL is http://loki:3100/loki/api/v1/push")
    else:
        parts = urlsplit(str(url))
        if parts.scheme not in ("http", "https") or parts.path != "/loki/api/v1/push":
            problems.append(f"clients[0].url {url!r} is not a Loki push URL")
        services = kubernetes_service_hosts(out)
        if services and (parts.hostname, parts.port) not in services:
            problems.append(f"clients[0].url {url!r} names no Service port of the rendered manifests")
    assert len(clients) == 1, "one client: the stack's own Loki"
    assert not problems, problems


def kubernetes_service_hosts(out: Path) -> set[tuple[str, int]]:
    hosts: set[tuple[str, int]] = set()
    for doc in (d for p in sorted(out.glob("manifests/**/*.y*ml")) for d in yaml.safe_load_all(p.read_text()) if d):
        if doc.get("kind") != "Service":
            continue
        name, namespace = doc["metadata"]["name"], doc["metadata"].get("namespace", "default")
        for port in (doc.get("spec") or {}).get("ports") or []:
            for host in (name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"):
                hosts.add((host, int(port["port"])))
    return hosts


@pytest.mark.parametrize("stack", STACKS)
def test_grafana_provisioning_escapes_every_literal_dollar(rendered: Callable[[str], Path], stack: str) -> None:
    bad = []
    for path in files(rendered(stack), "grafana/provisioning/**/*.y*ml"):
        bad += [f"{path.name}: {item}" for item in unescaped_dollars(load_yaml(path))]
    assert not bad, f"Grafana would expand these `$` (write `$$`): {bad}"


@pytest.mark.parametrize("stack", STACKS)
def test_every_dashboard_datasource_is_provisioned(rendered: Callable[[str], Path], stack: str) -> None:
    out = rendered(stack)
    sources = [ds for path in files(out, DATASOURCES) for ds in load_yaml(path).get("datasources") or []]
    types_by_uid = {str(ds["uid"]): str(ds["type"]) for ds in sources if ds.get("uid")}
    assert len(types_by_uid) == len(sources), "every provisioned datasource needs a pinned uid"
    committed = dashboard_files(configs_dir() / "grafana" / "dashboards")  # generated and the user's own
    assert sorted(p.name for p in dashboard_files(config_dir(out) / "grafana" / "dashboards")) == sorted(p.name for p in committed)
    problems = []
    for path in committed:
        problems += [f"{path.name}: {p}" for p in dashboard_problems(json.loads(path.read_text()), set(types_by_uid), types_by_uid)]
    assert not problems, problems


@pytest.mark.parametrize("stack", STACKS)
def test_jaeger_receives_otlp_and_stores_where_the_stack_says(rendered: Callable[[str], Path], stack: str) -> None:
    storage = stack_settings(stack).jaeger.storage
    for path in files(rendered(stack), JAEGER):
        assert not jaeger_problems(load_yaml(path), storage), path


def docker_probes(out: Path, service: str) -> list[tuple[int, str]]:
    probes = []
    for resource in json.loads((out / "resources.json").read_text()):
        if resource["type"] != "docker:index/container:Container":
            continue
        labels = {item["label"]: item["value"] for item in resource["inputs"].get("labels") or []}
        if labels.get("org.vega.observability.service") != service:
            continue
        for arg in (resource["inputs"].get("healthcheck") or {}).get("tests") or []:
            url = urlsplit(str(arg))
            if url.scheme in ("http", "https") and url.port:
                probes.append((url.port, url.path))
    return probes


def kubernetes_probes(out: Path, service: str) -> tuple[list[tuple[int, str]], set[int]]:
    probes, ports = [], set()
    for doc in (d for p in sorted(out.glob("manifests/**/*.y*ml")) for d in yaml.safe_load_all(p.read_text()) if d):
        pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in pod.get("containers") or []:
            if service not in str(container.get("name")):
                continue
            named = {p.get("name"): p["containerPort"] for p in container.get("ports") or []}
            ports |= set(named.values())
            for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
                get = (container.get(kind) or {}).get("httpGet")
                if get:
                    port = get["port"]
                    probes.append((int(named.get(port, port)), str(get.get("path", "/"))))
    return probes, ports


def scraped_ports(prometheus: Mapping[str, Any], job_name: str) -> set[int]:
    ports: set[int] = set()
    for job in prometheus.get("scrape_configs") or []:
        if job.get("job_name") != job_name:
            continue
        for static in job.get("static_configs") or []:
            ports |= {int(t.rsplit(":", 1)[1]) for t in static.get("targets") or [] if ":" in t}
        for rule in job.get("relabel_configs") or []:
            text = f"{rule.get('regex', '')} {rule.get('replacement', '')}"
            ports |= {int(n) for n in re.findall(r"(?<![\d.])(\d{2,5})(?![\d.])", text)}
    return ports


@pytest.mark.parametrize("stack", STACKS)
def test_jaeger_health_and_metrics_are_where_the_stack_looks(rendered: Callable[[str], Path], stack: str) -> None:
    out = rendered(stack)
    configs = [load_yaml(path) for path in files(out, JAEGER)]
    assert configs, "no Jaeger config in the render"
    health = {health_endpoint(c) for c in configs}
    metrics = set().union(*(metrics_ports(c) for c in configs))
    container_ports: set[int] = set()
    if stack_settings(stack).platform == "docker":
        assert health == {(13133, "/status")} and metrics == {8888}
        probes = docker_probes(out, "jaeger")
    else:
        # the collector and the query server run side by side: each on its own ports
        assert len(health) == len(configs) and len(metrics) == len(configs)
        probes, container_ports = kubernetes_probes(out, "jaeger")
    assert probes, "nothing probes Jaeger's health"
    assert set(probes) == health, f"probes {sorted(set(probes))}, the health checks serve {sorted(health)}"
    scraped = scraped_ports(load_yaml(one(out, "prometheus/prometheus.yml")), "jaeger")
    missing = metrics - (scraped | container_ports)
    assert not missing, f"Jaeger serves metrics on {sorted(metrics)}; nothing scrapes {sorted(missing)}"


# =========================================================================== the checkers catch breakage


def test_allowlists_name_their_upstream_source() -> None:
    for path in sorted(STRUCTURAL.glob("*.yaml")):
        head = path.read_text().split("\n\n")[0]
        assert "Source" in head and re.search(r"[\w-]+/[\w-]+ \S+|https://", head), f"{path.name}: name the upstream source"


def test_unknown_key_paths_are_reported_with_their_path() -> None:
    allowed = patterns(["compactor.retention_enabled", "schema_config.configs[].index.period", "processors.batch.timeout"])
    doc = {"compactor": {"retention_enable": True}, "schema_config": {"configs": [{"index": {"period": "24h", "perod": "1h"}}]}}
    assert unknown_paths(doc, allowed) == ["compactor.retention_enable", "schema_config.configs[].index.perod"]
    assert unknown_paths({"processors": {"batch": {}}}, allowed) == []
    assert unknown_paths({"processors": {"batch": "x"}}, allowed) == ["processors.batch"]
    assert unknown_paths({"processors": {"batch/2": {"timeout": "1s"}}}, allowed, component_type) == []


def test_a_typo_in_each_rendered_file_is_caught(rendered: Callable[[str], Path]) -> None:
    out = rendered(STACKS[0])
    loki = load_yaml(one(out, LOKI))
    loki["compactor"]["retention_enable"] = loki["compactor"].pop("retention_enabled")
    assert "compactor.retention_enable" in unknown_paths(loki, patterns(allowlist("loki.yaml")["paths"]))
    collector = load_yaml(one(out, COLLECTOR))
    collector["scrape_configs"][0]["pipeline_stages"].append({"structured_metdata": {"x": None}})
    assert "scrape_configs[].pipeline_stages[].structured_metdata.x" in unknown_paths(collector, patterns(allowlist("promtail.yaml")["paths"]))
    jaeger = load_yaml(one(out, JAEGER))
    jaeger["extensions"]["healthcheckv2"]["http"]["endpiont"] = "0.0.0.0:1"
    assert "extensions.healthcheckv2.http.endpiont" in unknown_paths(jaeger, patterns(allowlist("jaeger.yaml")["paths"]), component_type)
    sources = load_yaml(one(out, DATASOURCES))
    sources["datasources"][0]["jsonData"]["exemplarTraceIdDestination"] = []
    sources["datasources"][0]["isdefault"] = True
    bad = datasource_unknown_paths(sources)
    assert any(b.endswith("jsonData.exemplarTraceIdDestination") for b in bad) and "datasources[].isdefault" in bad
    ini = one(out, GRAFANA_INI).read_text().replace("[server]", "[server]\nhttp_prot = 3000") + "\n[servr]\nx = 1\n"
    assert ini_unknown_keys(ini) == ["[server] http_prot", "[servr]"]


def test_unescaped_grafana_macros_are_caught() -> None:
    doc = {"jsonData": {"derivedFields": [{"url": "${__value.raw}"}], "q": "{$$__tags}", "p": "$__file{/run/secret}"}}
    assert unescaped_dollars(doc) == ["jsonData.derivedFields[].url: ${__value.raw}"]
    assert unescaped_dollars({"a": "$$${__value.raw}"}) == ["a: $$${__value.raw}"]


def test_broken_loki_retention_is_caught(rendered: Callable[[str], Path]) -> None:
    good = load_yaml(one(rendered(STACKS[0]), LOKI))
    retention = str(good["limits_config"]["retention_period"])
    assert retention_problems(good, retention) == []
    cases: dict[str, Callable[[dict[str, Any]], None]] = {
        "retention_enabled": lambda d: d["compactor"].update(retention_enabled=False),
        "delete_request_store is unset": lambda d: d["compactor"].pop("delete_request_store"),
        "not an object store": lambda d: d["compactor"].update(delete_request_store="gcs"),
        "retention_period": lambda d: d["limits_config"].update(retention_period="24h"),
        "24h": lambda d: d["schema_config"]["configs"][-1]["index"].update(period="168h"),
        "tsdb": lambda d: d["schema_config"]["configs"][-1].update(store="boltdb-shipper"),
    }
    for expected, breaks in cases.items():
        broken = copy.deepcopy(good)
        breaks(broken)
        problems = retention_problems(broken, retention)
        assert any(expected in p for p in problems), (expected, problems)


def test_high_cardinality_labels_and_unparsed_fields_are_caught(rendered: Callable[[str], Path]) -> None:
    good = load_yaml(one(rendered(STACKS[0]), COLLECTOR))
    assert pipeline_problems(good, "docker") == []
    job = next(i for i, j in enumerate(good["scrape_configs"]) if container_job(j))

    def broken(mutate: Callable[[dict[str, Any]], None]) -> list[str]:
        doc = copy.deepcopy(good)
        mutate(doc["scrape_configs"][job])
        return pipeline_problems(doc, "docker")

    def label_participant(j: dict[str, Any]) -> None:
        j["pipeline_stages"].append({"labels": {"participant_id": None}})

    def drop_round(j: dict[str, Any]) -> None:
        for stage in j["pipeline_stages"]:
            (stage.get("json") or {}).get("expressions", {}).pop("round", None)

    def relabel_trace(j: dict[str, Any]) -> None:
        j["relabel_configs"].append({"source_labels": ["x"], "target_label": "trace_id"})

    assert any("high cardinality" in p for p in broken(label_participant))
    assert any("does not extract ['round']" in p for p in broken(drop_round))
    assert any("high cardinality" in p for p in broken(relabel_trace))
    assert any("cri" in p for p in pipeline_problems({"scrape_configs": [{"job_name": "kubernetes-pods", "kubernetes_sd_configs": [{"role": "pod"}], "pipeline_stages": good["scrape_configs"][job]["pipeline_stages"]}]}, "kubernetes"))


def test_broken_jaeger_wiring_is_caught(rendered: Callable[[str], Path]) -> None:
    good = load_yaml(one(rendered(STACKS[0]), JAEGER))
    storage = next(iter(next(iter(good["extensions"]["jaeger_storage"]["backends"].values()))))
    assert jaeger_problems(good, storage) == []
    broken = copy.deepcopy(good)
    broken["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] = "localhost:4317"
    broken["service"]["pipelines"]["traces"]["processors"].append("memory_limiter")
    broken["exporters"]["jaeger_storage_exporter"]["trace_storage"] = "other_store"
    problems = jaeger_problems(broken, "elasticsearch")
    for expected in ("0.0.0.0:4317", "processors.memory_limiter", "other_store", "jaegerStorage is 'elasticsearch'"):
        assert any(expected in p for p in problems), (expected, problems)


def test_unprovisioned_dashboard_datasources_are_caught() -> None:
    uids = {"vega-prometheus": "prometheus", "vega-loki": "loki"}
    dashboard = {
        "templating": {"list": [{"type": "datasource", "name": "ds", "query": "prometheus"}, {"type": "datasource", "name": "tr", "query": "tempo"}]},
        "panels": [
            {"datasource": {"type": "prometheus", "uid": "vega-prometheus"}},
            {"datasource": {"type": "prometheus", "uid": "${ds}"}},
            {"datasource": {"type": "jaeger", "uid": "jaeger"}},
            {"datasource": "Prometheus"},
            {"datasource": {"uid": "$missing"}},
            {"datasource": {"uid": "-- Grafana --"}},
            {"links": [{"datasourceUid": "vega-tempo"}]},
            {"datasource": {"type": "loki", "uid": "vega-prometheus"}},
        ],
    }
    problems = dashboard_problems(dashboard, set(uids), uids)
    for expected in ("'tempo'", "'jaeger'", "'Prometheus'", "$missing", "'vega-tempo'", "the panel says 'loki'"):
        assert any(expected in p for p in problems), (expected, problems)
    assert len(problems) == 6, problems


def test_kubernetes_probes_services_and_scrape_ports_are_read(tmp_path: Path) -> None:
    pod = {
        "containers": [
            {
                "name": "jaeger",
                "ports": [{"name": "health", "containerPort": 13133}, {"name": "metrics", "containerPort": 8888}],
                "livenessProbe": {"httpGet": {"path": "/status", "port": "health"}},
                "readinessProbe": {"httpGet": {"path": "/status", "port": 13133}},
            }
        ]
    }
    docs = [
        {"kind": "Deployment", "metadata": {"name": "jaeger"}, "spec": {"template": {"spec": pod}}},
        {"kind": "Service", "metadata": {"name": "loki-write", "namespace": "obs"}, "spec": {"ports": [{"port": 3100}]}},
    ]
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "all.yaml").write_text(yaml.safe_dump_all(docs))
    probes, ports = kubernetes_probes(tmp_path, "jaeger")
    assert probes == [(13133, "/status"), (13133, "/status")] and ports == {13133, 8888}
    assert ("loki-write.obs.svc", 3100) in kubernetes_service_hosts(tmp_path)
    prometheus = {
        "scrape_configs": [
            {"job_name": "jaeger", "relabel_configs": [{"source_labels": ["__meta_kubernetes_pod_container_port_number"], "regex": "8888", "action": "keep"}]},
            {"job_name": "loki", "static_configs": [{"targets": ["loki:3100"]}]},
        ]
    }
    assert scraped_ports(prometheus, "jaeger") == {8888}
    assert scraped_ports(prometheus, "loki") == {3100}
