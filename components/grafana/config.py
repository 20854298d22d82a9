"""grafana.ini, datasource and dashboard provisioning, and the dashboards themselves.

Grafana expands `$NAME` in provisioning files, so every literal `$` in a value here is
written `$$` (a Grafana macro such as ${__value.raw} becomes $${__value.raw}).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from components import endpoints
from components.content import files_under, to_yaml
from components.settings import ConfigError, Settings

CONFIG_DIR = "/etc/grafana"
DATA_DIR = "/var/lib/grafana"
PROVISIONING_DIR = f"{CONFIG_DIR}/provisioning"
DASHBOARDS_DIR = f"{CONFIG_DIR}/dashboards"
HOME_DASHBOARD = "vega-system-overview.json"
ADMIN_PASSWORD_FILE = f"{CONFIG_DIR}/secrets/admin_password"

UIDS = endpoints.DATASOURCE_UIDS

HEADER = """\
Rendered by vega-observability. Do not edit here: change configs/grafana/ or the stack config."""


def ini(sections: Mapping[str, Mapping[str, Any]]) -> str:
    """grafana.ini text: sections in the given order, keys sorted."""
    out = [f"; {line}" for line in HEADER.splitlines()]
    for section, values in sections.items():
        out.append("")
        out.append(f"[{section}]")
        for key in sorted(values):
            value = values[key]
            if isinstance(value, bool):
                value = "true" if value else "false"
            out.append(f"{key} = {value}")
    return "\n".join(out) + "\n"


def base_ini(settings: Settings, root_url: str) -> dict[str, dict[str, Any]]:
    g = settings.grafana
    return {
        "server": {"http_port": endpoints.GRAFANA, "root_url": root_url},
        "security": {
            "admin_user": g.admin_user,
            "disable_gravatar": True,
            "cookie_samesite": "lax",
            "allow_embedding": False,
        },
        "auth.anonymous": {"enabled": False},
        "users": {"allow_sign_up": False},
        "analytics": {"reporting_enabled": False, "check_for_updates": False, "check_for_plugin_updates": False},
        "dashboards": {
            "default_home_dashboard_path": f"{DASHBOARDS_DIR}/{HOME_DASHBOARD}",
            "min_refresh_interval": "5s",
        },
        "log": {"mode": "console", "level": "info"},
        "paths": {"provisioning": PROVISIONING_DIR},
        "metrics": {"enabled": True},
    }


def datasources(
    settings: Settings,
    urls: Mapping[str, str],
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Datasource provisioning with pinned UIDs and the metric/log/trace correlations.

    `urls` maps prometheus, loki, jaeger (and alertmanager when enabled) to their URLs;
    `extra` merges platform additions (auth, TLS) into a datasource by its key.
    """
    extra = extra or {}
    sources: dict[str, dict[str, Any]] = {
        "prometheus": {
            "name": "Prometheus",
            "type": "prometheus",
            "isDefault": True,
            "jsonData": {
                "httpMethod": "POST",
                "timeInterval": settings.prometheus.scrape_interval,
                # Exemplars carry the trace id of a sampled request: one click to the trace.
                "exemplarTraceIdDestinations": [
                    {"name": "trace_id", "datasourceUid": UIDS["jaeger"], "urlDisplayLabel": "View trace"}
                ],
            },
        },
        "loki": {
            "name": "Loki",
            "type": "loki",
            "jsonData": {
                "maxLines": 1000,
                # The log pipeline keeps trace_id in the JSON line; link it to Jaeger.
                "derivedFields": [
                    {
                        "name": "TraceID",
                        "matcherType": "regex",
                        "matcherRegex": '"trace_id"\\s*:\\s*"([0-9a-fA-F]+)"',
                        "datasourceUid": UIDS["jaeger"],
                        "url": "$${__value.raw}",
                        "urlDisplayLabel": "View trace",
                    }
                ],
            },
        },
        "jaeger": {
            "name": "Jaeger",
            "type": "jaeger",
            "jsonData": {
                "tracesToLogsV2": {
                    "datasourceUid": UIDS["loki"],
                    "spanStartTimeShift": "-5m",
                    "spanEndTimeShift": "5m",
                    "filterByTraceID": True,
                    "filterBySpanID": False,
                    "customQuery": True,
                    "query": '{service="$${__span.tags["service.name"]}"} |= "$${__trace.traceId}"',
                },
                "tracesToMetrics": {
                    "datasourceUid": UIDS["prometheus"],
                    "spanStartTimeShift": "-5m",
                    "spanEndTimeShift": "5m",
                    "tags": [{"key": "service.name", "value": "job"}],
                    "queries": [
                        {"name": "Request rate", "query": "sum(rate(http_requests_total{$$__tags}[5m]))"},
                        {
                            "name": "Error rate",
                            "query": 'sum(rate(http_requests_total{$$__tags,status=~"5.."}[5m]))',
                        },
                        {
                            "name": "p95 latency",
                            "query": (
                                "histogram_quantile(0.95, sum by (le) "
                                "(rate(http_request_duration_seconds_bucket{$$__tags}[5m])))"
                            ),
                        },
                    ],
                },
                "nodeGraph": {"enabled": True},
                "traceIdTimeParams": {"enabled": True},
            },
        },
    }
    if "alertmanager" in urls:
        sources["alertmanager"] = {
            "name": "Alertmanager",
            "type": "alertmanager",
            "jsonData": {"implementation": "prometheus", "handleGrafanaManagedAlerts": False},
        }
    out = []
    for key, body in sources.items():
        entry = {
            **body,
            "uid": UIDS[key],
            "url": urls[key],
            "access": "proxy",
            "editable": False,
            "version": 1,
        }
        for field, value in (extra.get(key) or {}).items():
            if isinstance(value, dict) and isinstance(entry.get(field), dict):
                entry[field] = {**entry[field], **value}
            else:
                entry[field] = value
        out.append(entry)
    return {"apiVersion": 1, "prune": True, "datasources": out}


def dashboard_provider() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "vega",
                "orgId": 1,
                "folder": "Vega 2.0",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": DASHBOARDS_DIR},
            }
        ],
    }


def dashboards() -> dict[str, str]:
    """configs/grafana/dashboards/*.json, checked to reference only provisioned datasources."""
    out = {}
    problems = []
    known = set(UIDS.values()) | {"-- Grafana --", "grafana", "-- Mixed --", "-- Dashboard --"}
    for name, text in files_under("grafana/dashboards", "*.json").items():
        where = f"configs/grafana/dashboards/{name}"
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not valid JSON ({exc})")
            continue
        for uid in sorted(_datasource_uids(doc) - known):
            if not uid.startswith("$"):
                problems.append(
                    f"{where}: datasource uid {uid!r} is not provisioned; use one of " + ", ".join(UIDS.values())
                )
        out[name] = text
    if problems:
        raise ConfigError(problems)
    return out


def _datasource_uids(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ds = node.get("datasource")
        if isinstance(ds, dict) and isinstance(ds.get("uid"), str):
            found.add(ds["uid"])
        for value in node.values():
            found |= _datasource_uids(value)
    elif isinstance(node, list):
        for value in node:
            found |= _datasource_uids(value)
    return found


def render(
    settings: Settings,
    *,
    urls: Mapping[str, str],
    root_url: str,
    ini_sections: Mapping[str, Mapping[str, Any]] | None = None,
    datasource_extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, str]:
    """{path relative to /etc/grafana: text}."""
    sections = base_ini(settings, root_url)
    for section, values in (ini_sections or {}).items():
        sections[section] = {**sections.get(section, {}), **values}
    files = {
        "grafana.ini": ini(sections),
        "provisioning/datasources/datasources.yaml": to_yaml(datasources(settings, urls, datasource_extra), HEADER),
        "provisioning/dashboards/dashboards.yaml": to_yaml(dashboard_provider(), HEADER),
    }
    for name, text in dashboards().items():
        files[f"dashboards/{name}"] = text
    return files


ENV = {
    # The image's run.sh reads GF_*__FILE into the variable: the password stays in a file.
    "GF_SECURITY_ADMIN_PASSWORD__FILE": ADMIN_PASSWORD_FILE,
    "GF_PATHS_CONFIG": f"{CONFIG_DIR}/grafana.ini",
    "GF_PATHS_PROVISIONING": PROVISIONING_DIR,
}
