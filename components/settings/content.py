"""The data files under configs/ that parameterise the stack: image versions, sizing, alert
routing and the scrape jobs users add, read into Settings; the notification templates; and
the inventory that refuses any file the stack would not read. `check_files` runs the checks
of the other content modules (rules, logs, dashboards). Each loader records its problems
(file, key, value, what is allowed) and returns what it could read."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.settings import gotemplate
from components.settings.checks import (
    DURATION_HELP,
    QUANTITY_BYTES,
    QUANTITY_CPU,
    check_image,
    check_target,
    parse_duration,
    quantity,
)
from components.settings.model import (
    CHANNELS,
    SEVERITIES,
    Images,
    InhibitRule,
    PrometheusSettings,
    Routing,
    SeverityRoute,
    WorkloadSize,
)
from components.settings.reader import load_yaml, read_text, rel, unknown_keys

REQUIRED_IMAGES = (
    "prometheus", "alertmanager", "grafana", "loki", "alloy", "promtail", "jaeger",
    "node_exporter", "cadvisor", "thanos", "curl", "memcached", "jaeger_dependencies", "demo",
)


def load_images(configs: Path, problems: list[str]) -> Images:
    path = configs / "versions.yaml"
    doc = load_yaml(path, problems) or {}
    images = doc.get("images") if isinstance(doc, dict) else None
    if not isinstance(images, dict):
        problems.append(f"{rel(path)}: expected a mapping under 'images'")
        return Images({})
    unknown_keys(f"{rel(path)} images", images, REQUIRED_IMAGES, problems)
    refs = {}
    for name in REQUIRED_IMAGES:
        ref = images.get(name)
        if ref is None:
            problems.append(f"{rel(path)} images.{name}: missing; every service needs a pinned image")
            continue
        try:
            refs[name] = check_image(str(ref))
        except ValueError:
            problems.append(
                f"{rel(path)} images.{name}: {ref!r} is not pinned; expected repository:tag with an "
                "exact release tag such as v3.13.0 or 13.2.0, or an @sha256 digest (never latest)"
            )
    return Images(refs)


SIZED_SERVICES = (
    "prometheus", "alertmanager", "grafana", "loki", "collector", "jaeger", "node_exporter", "cadvisor", "demo",
)


def load_docker_memory(configs: Path, problems: list[str]) -> dict[str, int]:
    path = configs / "sizing.yaml"
    doc = load_yaml(path, problems) or {}
    sizes = doc.get("docker") if isinstance(doc, dict) else None
    if not isinstance(sizes, dict):
        problems.append(f"{rel(path)}: expected a mapping under 'docker'")
        return {}
    unknown_keys(f"{rel(path)} docker", sizes, SIZED_SERVICES, problems)
    out = {}
    for name in SIZED_SERVICES:
        value = sizes.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not 16 <= value <= 65536:
            problems.append(f"{rel(path)} docker.{name}: {value!r} is not allowed; expected MiB from 16 to 65536")
            continue
        out[name] = value
    return out


_ROUTING_KEYS = ("group_by", "group_wait", "group_interval", "repeat_interval", "severities", "inhibit")


def load_routing(configs: Path, problems: list[str]) -> Routing:
    path = configs / "alertmanager" / "routing.yaml"
    where = rel(path)
    doc = load_yaml(path, problems)
    if not isinstance(doc, dict):
        problems.append(f"{where}: expected a mapping")
        doc = {}
    unknown_keys(where, doc, _ROUTING_KEYS, problems)

    def duration(key: str, value: Any) -> str:
        try:
            parse_duration(str(value))
        except ValueError:
            problems.append(f"{where} {key}: {value!r} is not allowed; expected {DURATION_HELP}")
        return str(value)

    def labels(key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            problems.append(f"{where} {key}: {value!r} is not allowed; expected a non-empty list of label names")
            return ()
        return tuple(value)

    severities: dict[str, SeverityRoute] = {}
    raw_sev = doc.get("severities") or {}
    if not isinstance(raw_sev, dict):
        problems.append(f"{where} severities: expected a mapping of severity to route")
        raw_sev = {}
    for sev in SEVERITIES:
        if sev not in raw_sev:
            problems.append(
                f"{where} severities.{sev}: missing; every severity ({', '.join(SEVERITIES)}) needs a route"
            )
    for sev, body in raw_sev.items():
        key = f"severities.{sev}"
        if sev not in SEVERITIES:
            problems.append(f"{where} {key}: unknown severity; allowed are " + ", ".join(SEVERITIES))
            continue
        if not isinstance(body, dict):
            problems.append(f"{where} {key}: expected a mapping with 'channels'")
            continue
        unknown_keys(f"{where} {key}", body, ("channels", "repeat_interval"), problems)
        channels = body.get("channels") or []
        bad = [c for c in channels if c not in CHANNELS] if isinstance(channels, list) else [channels]
        if bad:
            problems.append(
                f"{where} {key}.channels: {channels!r} is not allowed; expected a list of " + ", ".join(CHANNELS)
            )
            channels = [c for c in channels if c in CHANNELS] if isinstance(channels, list) else []
        repeat = body.get("repeat_interval")
        severities[sev] = SeverityRoute(
            channels=tuple(channels),
            repeat_interval=duration(f"{key}.repeat_interval", repeat) if repeat is not None else None,
        )

    inhibit = []
    raw_inhibit = doc.get("inhibit") or []
    if not isinstance(raw_inhibit, list):
        problems.append(f"{where} inhibit: {raw_inhibit!r} is not allowed; expected a list of inhibit rules")
        raw_inhibit = []
    for i, rule in enumerate(raw_inhibit):
        key = f"inhibit[{i}]"
        if not isinstance(rule, dict):
            problems.append(f"{where} {key}: expected a mapping")
            continue
        unknown_keys(f"{where} {key}", rule, ("source_severity", "target_severity", "equal"), problems)
        src, dst = str(rule.get("source_severity")), str(rule.get("target_severity"))
        for name, sev in (("source_severity", src), ("target_severity", dst)):
            if sev not in SEVERITIES:
                problems.append(
                    f"{where} {key}.{name}: {sev!r} is not allowed; expected one of " + ", ".join(SEVERITIES)
                )
        inhibit.append(InhibitRule(str(src), str(dst), labels(f"{key}.equal", rule.get("equal"))))

    return Routing(
        group_by=labels("group_by", doc.get("group_by", ["alertname"])),
        group_wait=duration("group_wait", doc.get("group_wait", "30s")),
        group_interval=duration("group_interval", doc.get("group_interval", "5m")),
        repeat_interval=duration("repeat_interval", doc.get("repeat_interval", "4h")),
        severities=severities,
        inhibit=tuple(inhibit),
    )


# The scrape_config keys both Prometheus 2.42 (the validator CI has) and 3.x accept.
SCRAPE_CONFIG_KEYS = (
    "job_name", "scrape_interval", "scrape_timeout", "metrics_path", "scheme", "params",
    "honor_labels", "honor_timestamps", "basic_auth", "authorization", "oauth2", "tls_config",
    "proxy_url", "follow_redirects", "enable_http2", "static_configs", "file_sd_configs",
    "dns_sd_configs", "kubernetes_sd_configs", "docker_sd_configs", "http_sd_configs",
    "relabel_configs", "metric_relabel_configs", "sample_limit", "label_limit",
    "label_name_length_limit", "label_value_length_limit", "target_limit", "body_size_limit",
)
SCRAPE_SUFFIXES = (".yml", ".yaml")
RESERVED_JOBS = (
    "prometheus", "alertmanager", "grafana", "loki", "collector", "jaeger", "node-exporter",
    "cadvisor", "vega-api", "vega-coordinator", "vega-database",
)


def load_extra_scrape_configs(configs: Path, problems: list[str]) -> tuple[Mapping[str, Any], ...]:
    """Scrape jobs users add as files in configs/prometheus/scrape_configs/ (the seed's
    "Edit prometheus.yml to add new scrape targets")."""
    jobs: list[Mapping[str, Any]] = []
    seen: dict[str, str] = {}
    folder = configs / "prometheus" / "scrape_configs"
    for path in sorted(p for suffix in SCRAPE_SUFFIXES for p in folder.glob(f"*{suffix}")):
        where = rel(path)
        doc = load_yaml(path, problems)
        if doc is None:
            continue
        entries = doc.get("scrape_configs") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            problems.append(f"{where}: expected a list under 'scrape_configs'")
            continue
        for i, job in enumerate(entries):
            key = f"{where} scrape_configs[{i}]"
            if not isinstance(job, dict):
                problems.append(f"{key}: expected a mapping")
                continue
            unknown_keys(key, job, SCRAPE_CONFIG_KEYS, problems)
            name = job.get("job_name")
            if not isinstance(name, str) or not name:
                problems.append(f"{key}.job_name: missing; every scrape job needs a job_name")
                continue
            if name in RESERVED_JOBS:
                problems.append(
                    f"{key}.job_name: {name!r} is taken by the stack's own jobs ({', '.join(RESERVED_JOBS)})"
                )
            if name in seen:
                problems.append(f"{key}.job_name: {name!r} is already defined in {seen[name]}")
            seen[name] = where
            statics = job.get("static_configs") or []
            if not isinstance(statics, list):
                problems.append(f"{key}.static_configs: {statics!r} is not allowed; expected a list of {{targets: …}}")
                statics = []
            for j, static in enumerate(statics):
                targets = static.get("targets") if isinstance(static, dict) else None
                if isinstance(targets, str):
                    problems.append(f"{key}.static_configs[{j}].targets: {targets!r} is not allowed; expected a list")
                    continue
                if not targets:
                    problems.append(f"{key}.static_configs[{j}].targets: empty; list at least one host:port")
                    continue
                for target in targets:
                    try:
                        check_target(str(target))
                    except ValueError:
                        problems.append(f"{key}.static_configs[{j}].targets: {target!r} is not host:port")
            jobs.append(job)
    return tuple(jobs)



# Loki in microservices mode (components/loki/kubernetes.py), and its two memcached caches.
LOKI_WORKLOADS = (
    "loki-distributor", "loki-ingester", "loki-querier", "loki-query-frontend", "loki-query-scheduler",
    "loki-index-gateway", "loki-compactor", "loki-chunks-cache", "loki-results-cache",
)
KUBERNETES_WORKLOADS = (
    "prometheus", "thanos-sidecar", "thanos-query", "thanos-store", "thanos-compact", "alertmanager",
    "grafana", *LOKI_WORKLOADS, "collector", "node-exporter",
    "jaeger-collector", "jaeger-query", "jaeger-dependencies", "backup",
)
_STORAGE_WORKLOADS = ("prometheus", "thanos-store", "thanos-compact", "alertmanager", "loki-ingester", "loki-compactor")

def load_kubernetes_sizing(configs: Path, problems: list[str]) -> dict[str, WorkloadSize]:
    path = configs / "sizing.yaml"
    doc = load_yaml(path, problems) or {}
    sizes = doc.get("kubernetes") if isinstance(doc, dict) else None
    where = f"{rel(path)} kubernetes"
    if not isinstance(sizes, dict):
        problems.append(f"{rel(path)}: expected a mapping under 'kubernetes'")
        return {}
    unknown_keys(where, sizes, KUBERNETES_WORKLOADS, problems)
    out = {}
    for name in KUBERNETES_WORKLOADS:
        body = sizes.get(name)
        if not isinstance(body, dict):
            problems.append(f"{where}.{name}: missing; every workload needs cpu, memory, cpu_limit, memory_limit")
            continue
        keys = ("cpu", "memory", "cpu_limit", "memory_limit", "storage")
        unknown_keys(f"{where}.{name}", body, keys, problems)
        for key in keys[:4]:
            value = str(body.get(key, ""))
            pattern = QUANTITY_CPU if key.startswith("cpu") else QUANTITY_BYTES
            if not pattern.match(value):
                example = "500m or 2" if key.startswith("cpu") else "512Mi or 4Gi"
                problems.append(
                    f"{where}.{name}.{key}: {body.get(key)!r} is not allowed; expected a quantity such as {example}"
                )
        for request, limit in (("cpu", "cpu_limit"), ("memory", "memory_limit")):
            try:
                if quantity(str(body.get(request))) > quantity(str(body.get(limit))):
                    problems.append(
                        f"{where}.{name}.{request}: {body.get(request)!r} is not allowed; "
                        f"expected at most {limit} ({body.get(limit)!r}): a request above its limit is refused"
                    )
            except ValueError:
                pass  # reported above
        storage = str(body.get("storage", ""))
        if name in _STORAGE_WORKLOADS and not QUANTITY_BYTES.match(storage):
            problems.append(
                f"{where}.{name}.storage: {body.get('storage')!r} is not allowed; expected a size such as 50Gi"
            )
        out[name] = WorkloadSize(
            cpu=str(body.get("cpu")), memory=str(body.get("memory")), cpu_limit=str(body.get("cpu_limit")),
            memory_limit=str(body.get("memory_limit")), storage=storage,
        )
    return out



# --------------------------------------------------------------------------- alertmanager templates

TEMPLATE_FILE = "vega.tmpl"


def check_notification_templates(configs: Path, problems: list[str]) -> None:
    """configs/alertmanager/vega.tmpl parsed as Go templates; every template it calls is defined."""
    path = configs / "alertmanager" / TEMPLATE_FILE
    where = rel(path)
    text = read_text(path, problems, "file is missing; the receivers use its vega.title and vega.text")
    if text is None:
        return
    parsed = gotemplate.parse(text)
    problems.extend(f"{where}: {problem}" for problem in parsed.problems)
    for name in sorted(set(parsed.calls) - set(parsed.defines)):
        if "default" not in name and not name.startswith("__"):
            problems.append(f"{where}: template {name!r} is called but never defined")
    for name in ("vega.title", "vega.text"):
        if name not in parsed.defines:
            problems.append(f"{where}: {{{{ define {name!r} }}}} is missing; the Slack and e-mail receivers use it")


# --------------------------------------------------------------------------- every file is read or refused

# {folder under configs/: file names or *.suffix patterns the stack reads there}
CONTENT_FILES: dict[str, tuple[str, ...]] = {
    ".": ("versions.yaml", "sizing.yaml"),
    "alertmanager": ("routing.yaml", TEMPLATE_FILE),
    "grafana/dashboards": ("*.json",),  # the user's own dashboards
    "grafana/dashboards/generated": ("*.json",),  # written by tools/dashboards.py
    "loki": ("limits.yaml",),
    "prometheus": ("limits.yaml", "slo.yaml", "thresholds.yaml"),
    "prometheus/rules": ("*.yml",),
    "prometheus/scrape_configs": tuple(f"*{s}" for s in SCRAPE_SUFFIXES),
    "promtail": ("promtail-config.yaml",),
}


def check_inventory(configs: Path, problems: list[str]) -> None:
    """Every file under configs/ is one the stack reads, a README.md, or refused by name:
    nothing is silently ignored (a rule file named *.yaml would never reach Prometheus)."""
    for path in sorted(configs.rglob("*")):
        relative = path.relative_to(configs)
        if any(part.startswith(".") for part in relative.parts) or path.is_dir() or path.name == "README.md":
            continue
        home = relative.parent.as_posix()
        accepted = CONTENT_FILES.get(home)
        if accepted is None:
            problems.append(
                f"{rel(path)}: not read by the stack (no content folder configs/{home}); "
                "content folders are " + ", ".join(f"configs/{f}" if f != "." else "configs" for f in CONTENT_FILES)
            )
        elif not any(path.match(pattern) if pattern.startswith("*") else path.name == pattern for pattern in accepted):
            problems.append(
                f"{rel(path)}: not read by the stack; configs/{home if home != '.' else ''} holds only "
                + ", ".join(accepted) + (" (rename it or move it away)" if accepted else "")
            )


def check_files(configs: Path, platform: str, prometheus: PrometheusSettings, problems: list[str]) -> dict[str, Any]:
    """The content files not read into Settings, checked for what they mean: rules and their
    thresholds, SLOs, scrape limits, Loki limits, the log pipeline, notification templates,
    dashboards, and no file left unread. Returns Loki's limits for the checks across files."""
    from components.settings import dashboards, logs, rules  # imported here: they import this module

    check_inventory(configs, problems)
    jobs = [*RESERVED_JOBS, *(str(job.get("job_name")) for job in prometheus.extra_scrape_configs)]
    rules.check_rule_files(configs, prometheus.runbook_base_url, problems)
    rules.check_scrape_limits(configs, jobs, problems)
    loki_limits = logs.load_loki_limits(configs, problems)
    logs.check_pipeline(configs, platform, problems)
    check_notification_templates(configs, problems)
    dashboards.check_dashboards(configs, problems)
    return loki_limits
