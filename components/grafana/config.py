"""grafana.ini, datasource and dashboard provisioning, and the dashboards themselves.

Grafana expands `$NAME` in provisioning files, so every literal `$` in a value here is
written `$$` (a Grafana macro such as ${__value.raw} becomes $${__value.raw}).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components import endpoints
from components.content import files_under, to_yaml
from components.settings import Settings

CONFIG_DIR = "/etc/grafana"
DATA_DIR = "/var/lib/grafana"
PROVISIONING_DIR = f"{CONFIG_DIR}/provisioning"
DASHBOARDS_DIR = f"{CONFIG_DIR}/dashboards"
HOME_DASHBOARD = "vega-system-overview.json"  # in generated/
# Under /etc/grafana/dashboards: generated/ (configs/grafana/dashboards/generated/, written by
# tools/dashboards.py) and custom/ (the user's own JSON in configs/grafana/dashboards/); one
# provider each, both in the same Grafana folder.
GENERATED = "generated"
CUSTOM = "custom"
DASHBOARD_FOLDER = "Vega 2.0"
ADMIN_PASSWORD_FILE = f"{CONFIG_DIR}/secrets/admin_password"
# Grafana applies the configured admin password only when it creates its database. This
# command sets it again on every start (docker: before the server, in the same container;
# kubernetes: an init container against the shared database), so after any `pulumi up` the
# configured password is the one that works. `grafana cli` reads the password as one line
# from stdin, so it never shows in a process list; the paths and the console-only log are
# those the image's /run.sh gives the server, so the CLI opens the same database. On an
# empty database the CLI first creates it with its admin user.
RESET_ADMIN_PASSWORD = (
    'grafana cli --homepath "$GF_PATHS_HOME" --config "$GF_PATHS_CONFIG" '
    "admin reset-admin-password --password-from-stdin "
    'cfg:default.log.mode=console cfg:default.paths.data="$GF_PATHS_DATA" '
    'cfg:default.paths.logs="$GF_PATHS_LOGS" cfg:default.paths.plugins="$GF_PATHS_PLUGINS" '
    f"< {ADMIN_PASSWORD_FILE}"
)
IMAGE_ENTRYPOINT = "/run.sh"  # grafana/grafana's entrypoint: starts the server

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
            "default_home_dashboard_path": f"{DASHBOARDS_DIR}/{GENERATED}/{HOME_DASHBOARD}",
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


def dashboard_provider(folders: tuple[str, ...] = (GENERATED,)) -> dict[str, Any]:
    """One file provider per dashboards folder present (the generated ones keep the name
    "vega" they were first provisioned under)."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "vega" if folder == GENERATED else f"vega-{folder}",
                "orgId": 1,
                "folder": DASHBOARD_FOLDER,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": f"{DASHBOARDS_DIR}/{folder}"},
            }
            for folder in folders
        ],
    }


def dashboards() -> dict[str, str]:
    """{folder/file name under /etc/grafana/dashboards: text}: generated/ from
    configs/grafana/dashboards/generated/ (tools/dashboards.py writes them), custom/ from the
    user's own JSON in configs/grafana/dashboards/. The settings loader has checked them
    (components/settings/dashboards.py)."""
    generated = files_under(f"grafana/dashboards/{GENERATED}", "*.json")
    own = files_under("grafana/dashboards", "*.json")
    return {f"{GENERATED}/{name}": text for name, text in generated.items()} | {
        f"{CUSTOM}/{name}": text for name, text in own.items()
    }


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
    }
    found = dashboards()
    folders = tuple(f for f in (GENERATED, CUSTOM) if any(path.startswith(f + "/") for path in found))
    files["provisioning/dashboards/dashboards.yaml"] = to_yaml(dashboard_provider(folders), HEADER)
    for path, text in found.items():
        files[f"dashboards/{path}"] = text
    return files


ENV = {
    # The image's run.sh reads GF_*__FILE into the variable: the password stays in a file.
    "GF_SECURITY_ADMIN_PASSWORD__FILE": ADMIN_PASSWORD_FILE,
    "GF_PATHS_CONFIG": f"{CONFIG_DIR}/grafana.ini",
    "GF_PATHS_PROVISIONING": PROVISIONING_DIR,
}
