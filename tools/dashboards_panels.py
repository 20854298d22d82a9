"""Building blocks of the Grafana dashboards in tools/dashboards.py: datasource references,
query targets, panels, template variables, links and the grid layout.

Everything is a plain dict in Grafana's dashboard JSON model (schemaVersion 41), so what the
functions return is exactly what lands in configs/grafana/dashboards/*.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from components.endpoints import DATASOURCE_UIDS

Json = dict[str, Any]

PROMETHEUS: Json = {"type": "prometheus", "uid": DATASOURCE_UIDS["prometheus"]}
LOKI: Json = {"type": "loki", "uid": DATASOURCE_UIDS["loki"]}
JAEGER: Json = {"type": "jaeger", "uid": DATASOURCE_UIDS["jaeger"]}

GRID_WIDTH = 24
REFRESH = "10s"
REFRESH_INTERVALS = ["5s", "10s", "30s", "1m", "5m", "15m", "30m", "1h"]
ALL_VALUE = ".*"  # what a variable set to "All" sends: keeps queries short with 1,000 participants


# --- targets -------------------------------------------------------------------------------


def prom(expr: str, legend: str = "", *, instant: bool = False) -> Json:
    """A Prometheus query over the dashboard's time range, or at its end only (`instant`)."""
    return {
        "datasource": PROMETHEUS,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend,
        "instant": instant,
        "range": not instant,
    }


def loki(expr: str) -> Json:
    return {"datasource": LOKI, "editorMode": "code", "expr": expr, "queryType": "range"}


def jaeger_search(service: str, *, tags: str = "", limit: int = 20) -> Json:
    target: Json = {"datasource": JAEGER, "queryType": "search", "service": service, "limit": limit}
    if tags:
        target["tags"] = tags
    return target


# --- panels --------------------------------------------------------------------------------


def _panel(kind: str, title: str, description: str, targets: list[Json], w: int, h: int) -> Json:
    datasource = targets[0]["datasource"]
    for ref, target in zip("ABCDEFGHIJ", targets, strict=False):
        target["refId"] = ref
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": datasource,
        "targets": targets,
        "gridPos": {"h": h, "w": w, "x": 0, "y": 0},
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {},
    }


def thresholds(*steps: tuple[str, float | None]) -> Json:
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for color, value in steps]}


OK_THRESHOLDS = thresholds(("green", None))
UP_DOWN = [
    {
        "type": "value",
        "options": {
            "0": {"color": "red", "index": 0, "text": "DOWN"},
            "1": {"color": "green", "index": 1, "text": "UP"},
        },
    }
]

_REDUCE_LAST = {"calcs": ["lastNotNull"], "fields": "", "values": False}


def timeseries(
    title: str,
    description: str,
    targets: list[Json],
    unit: str,
    *,
    w: int = 12,
    h: int = 8,
    stack: bool = False,
    max_value: float | None = None,
    negative: str = "",
) -> Json:
    """A time series panel; `negative` is a regex of series names drawn below the axis (tx, writes)."""
    p = _panel("timeseries", title, description, targets, w, h)
    defaults: Json = {
        "unit": unit,
        "min": 0 if not negative else None,
        "color": {"mode": "palette-classic"},
        "thresholds": OK_THRESHOLDS,
        "custom": {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 20 if stack else 10,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"group": "A", "mode": "normal" if stack else "none"},
        },
    }
    if defaults["min"] is None:
        del defaults["min"]
    if max_value is not None:
        defaults["max"] = max_value
    p["fieldConfig"]["defaults"] = defaults
    if negative:
        p["fieldConfig"]["overrides"].append(
            {
                "matcher": {"id": "byRegexp", "options": negative},
                "properties": [{"id": "custom.transform", "value": "negative-Y"}],
            }
        )
    p["options"] = {
        "legend": {
            "calcs": ["mean", "max", "lastNotNull"],
            "displayMode": "table",
            "placement": "bottom",
            "showLegend": True,
        },
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return p


def stat(
    title: str,
    description: str,
    targets: list[Json],
    unit: str,
    *,
    w: int = 4,
    h: int = 4,
    steps: Json | None = None,
    mappings: list[Json] | None = None,
) -> Json:
    p = _panel("stat", title, description, targets, w, h)
    p["fieldConfig"]["defaults"] = {
        "unit": unit,
        "color": {"mode": "thresholds"},
        "thresholds": steps or OK_THRESHOLDS,
        "mappings": mappings or [],
    }
    p["options"] = {
        "colorMode": "value",
        "graphMode": "area",
        "justifyMode": "auto",
        "orientation": "auto",
        "reduceOptions": _REDUCE_LAST,
        "textMode": "auto",
    }
    return p


def bargauge(
    title: str,
    description: str,
    targets: list[Json],
    unit: str,
    *,
    w: int = 12,
    h: int = 8,
    steps: Json,
    max_value: float,
) -> Json:
    p = _panel("bargauge", title, description, targets, w, h)
    p["fieldConfig"]["defaults"] = {
        "unit": unit,
        "min": 0,
        "max": max_value,
        "color": {"mode": "thresholds"},
        "thresholds": steps,
    }
    p["options"] = {
        "displayMode": "gradient",
        "orientation": "horizontal",
        "reduceOptions": _REDUCE_LAST,
        "showUnfilled": True,
    }
    return p


def piechart(title: str, description: str, targets: list[Json], unit: str, *, w: int = 8, h: int = 8) -> Json:
    p = _panel("piechart", title, description, targets, w, h)
    p["fieldConfig"]["defaults"] = {"unit": unit, "color": {"mode": "palette-classic"}}
    p["options"] = {
        "pieType": "donut",
        "reduceOptions": _REDUCE_LAST,
        "legend": {"displayMode": "table", "placement": "right", "showLegend": True, "values": ["percent"]},
        "tooltip": {"mode": "single", "sort": "none"},
    }
    return p


def status_history(
    title: str, description: str, targets: list[Json], unit: str, *, steps: Json, w: int = 24, h: int = 8
) -> Json:
    p = _panel("status-history", title, description, targets, w, h)
    p["fieldConfig"]["defaults"] = {"unit": unit, "color": {"mode": "thresholds"}, "thresholds": steps}
    p["options"] = {
        "showValue": "auto",
        "rowHeight": 0.9,
        "colWidth": 0.9,
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "single", "sort": "none"},
    }
    return p


@dataclass(frozen=True)
class Column:
    """One value column of a table built from instant queries (query refId -> header, unit)."""

    header: str
    unit: str
    mappings: list[Json] = field(default_factory=list)
    steps: Json | None = None


def table(
    title: str,
    description: str,
    targets: list[Json],
    columns: list[Column],
    *,
    hide: tuple[str, ...] = ("Time",),
    sort_by: str = "",
    descending: bool = False,
    links: dict[str, list[Json]] | None = None,
    w: int = 12,
    h: int = 8,
) -> Json:
    """A table of instant queries, one row per label set: the labels they share become the key
    columns (`merge`), and each query's value its own column."""
    for target in targets:
        target.update(format="table", instant=True, range=False)
    p = _panel("table", title, description, targets, w, h)
    p["transformations"] = [
        {"id": "organize", "options": {"excludeByName": dict.fromkeys(hide, True)}},
        {"id": "merge", "options": {}},
    ]
    overrides = []
    multi = len(targets) > 1
    for target, column in zip(targets, columns, strict=True):
        name = f"Value #{target['refId']}" if multi else "Value"
        properties: list[Json] = [{"id": "displayName", "value": column.header}, {"id": "unit", "value": column.unit}]
        if column.mappings:
            properties.append({"id": "mappings", "value": column.mappings})
        if column.steps:
            properties += [
                {"id": "thresholds", "value": column.steps},
                {"id": "custom.cellOptions", "value": {"type": "color-background"}},
            ]
        overrides.append({"matcher": {"id": "byName", "options": name}, "properties": properties})
    for name, field_links in (links or {}).items():
        overrides.append(
            {"matcher": {"id": "byName", "options": name}, "properties": [{"id": "links", "value": field_links}]}
        )
    p["fieldConfig"] = {"defaults": {"thresholds": OK_THRESHOLDS}, "overrides": overrides}
    p["options"] = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "fields": ""}}
    if sort_by:
        p["options"]["sortBy"] = [{"displayName": sort_by, "desc": descending}]
    return p


def trace_table(title: str, description: str, target: Json, *, w: int = 12, h: int = 8) -> Json:
    """Jaeger trace search results: a table whose trace IDs open the trace."""
    p = _panel("table", title, description, [target], w, h)
    p["options"] = {"showHeader": True, "cellHeight": "sm"}
    return p


def logs(title: str, description: str, expr: str, *, w: int = 24, h: int = 10) -> Json:
    p = _panel("logs", title, description, [loki(expr)], w, h)
    p["options"] = {
        "dedupStrategy": "none",
        "enableLogDetails": True,
        "prettifyLogMessage": False,
        "showCommonLabels": False,
        "showLabels": False,
        "showTime": True,
        "sortOrder": "Descending",
        "wrapLogMessage": True,
    }
    return p


def with_links(panel: Json, links: list[Json]) -> Json:
    panel["links"] = links
    return panel


def no_data(panel: Json, text: str) -> Json:
    """`panel` showing `text` instead of Grafana's "No data" when its queries return nothing
    (the standard field option `noValue`)."""
    panel["fieldConfig"]["defaults"]["noValue"] = text
    return panel


def alerts_table(title: str, description: str, selector: str, links: list[Json], *, w: int = 20, h: int = 6) -> Json:
    """The alerts firing now that match `selector`: Prometheus' ALERTS series, the alerts it
    sends to Alertmanager, one row per alert with its labels; "No alert firing" otherwise."""
    target = prom(f'ALERTS{{alertstate="firing", {selector}}}')
    target.update(format="table", instant=True, range=False)
    p = _panel("table", title, description, [target], w, h)
    hidden = ("Time", "Value", "__name__", "alertstate")
    p["transformations"] = [
        {
            "id": "organize",
            "options": {
                "excludeByName": dict.fromkeys(hidden, True),
                "indexByName": {"alertname": 0, "severity": 1},
            },
        }
    ]
    p["fieldConfig"] = {
        "defaults": {"thresholds": OK_THRESHOLDS, "noValue": "No alert firing"},
        "overrides": [
            {
                "matcher": {"id": "byName", "options": "severity"},
                "properties": [
                    {"id": "mappings", "value": SEVERITY_COLOURS},
                    {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                ],
            }
        ],
    }
    p["options"] = {"showHeader": True, "cellHeight": "sm", "sortBy": [{"displayName": "severity", "desc": False}]}
    p["links"] = links
    return p


SEVERITY_COLOURS = [
    {
        "type": "value",
        "options": {
            "critical": {"color": "red", "index": 0},
            "warning": {"color": "orange", "index": 1},
            "info": {"color": "blue", "index": 2},
        },
    }
]


@dataclass(frozen=True)
class AlertMarks:
    """Annotations of the alerts matching `selector` (while they fire) on the panels titled
    `panels`, from Prometheus' ALERTS series."""

    name: str
    selector: str
    panels: tuple[str, ...]


def alert_annotation(marks: AlertMarks, panel_ids: list[int]) -> Json:
    """A Prometheus annotation query: one region per firing alert, titled with its name and
    severity, shown only on `panel_ids`."""
    return {
        "name": marks.name,
        "enable": True,
        "hide": False,
        "iconColor": "red",
        "datasource": PROMETHEUS,
        "target": {
            "refId": "Anno",
            "expr": f'ALERTS{{alertstate="firing", {marks.selector}}}',
            "interval": "1m",
        },
        "titleFormat": "{{alertname}} ({{severity}})",
        "textFormat": "{{alertname}} is firing ({{severity}})",
        "tagKeys": "alertname,severity",
        "useValueForTime": False,
        "filter": {"exclude": False, "ids": panel_ids},
    }


# --- template variables ---------------------------------------------------------------------


def _variable(name: str, label: str, description: str, datasource: Json, query: Any, definition: str) -> Json:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "description": description,
        "datasource": datasource,
        "definition": definition,
        "query": query,
        "refresh": 2,  # on time range change: new participants and routes show up
        "sort": 1,
        "multi": True,
        "includeAll": True,
        "allValue": ALL_VALUE,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "regex": "",
        "hide": 0,
        "skipUrlSync": False,
    }


def prom_variable(name: str, label: str, description: str, selector: str, label_name: str) -> Json:
    """Values of one label of the series `selector` selects, from Prometheus."""
    query = f"label_values({selector}, {label_name})"
    body = {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"}
    return _variable(name, label, description, PROMETHEUS, body, query)


def loki_variable(name: str, label: str, description: str, stream: str, label_name: str) -> Json:
    """Values of one stream label of the log streams `stream` selects, from Loki."""
    body = {"type": 1, "label": label_name, "stream": stream, "refId": "LokiVariableQueryEditor-VariableQuery"}
    return _variable(name, label, description, LOKI, body, f"label_values({stream}, {label_name})")


# --- links ----------------------------------------------------------------------------------


def dashboard_link(title: str, uid: str, tooltip: str) -> Json:
    """A link to another dashboard that keeps the time range and the variable values."""
    return {
        "title": title,
        "type": "link",
        "url": f"/d/{uid}",
        "icon": "dashboard",
        "tooltip": tooltip,
        "keepTime": True,
        "includeVars": True,
        "targetBlank": False,
        "asDropdown": False,
        "tags": [],
    }


def explore_url(datasource: Json, query: Json, time_from: str = "now-1h", time_to: str = "now") -> str:
    """A Grafana Explore URL (schemaVersion=1 panes) opening `query` on `datasource`.

    Grafana macros such as ${__value.raw} or ${__from} stay unencoded so that Grafana fills
    them in when the link is followed.
    """
    pane = {
        "datasource": datasource["uid"],
        "queries": [{"refId": "A", "datasource": datasource, **query}],
        "range": {"from": time_from, "to": time_to},
    }
    text = quote(json.dumps({"vega": pane}, separators=(",", ":"), sort_keys=True), safe="")
    for macro in ("${__value.raw}", "${__from}", "${__to}"):
        text = text.replace(quote(macro, safe=""), macro)
    return f"/explore?schemaVersion=1&orgId=1&panes={text}"


def explore_link(title: str, tooltip: str, datasource: Json, query: Json) -> Json:
    return {
        "title": title,
        "type": "link",
        "url": explore_url(datasource, query),
        "icon": "external link",
        "tooltip": tooltip,
        "keepTime": False,
        "includeVars": False,
        "targetBlank": True,
        "asDropdown": False,
        "tags": [],
    }


# --- layout ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """A titled row of panels; a collapsed row keeps its panels inside it until opened."""

    title: str
    panels: list[Json]
    collapsed: bool = False


def layout(rows: list[Row]) -> list[Json]:
    """The dashboard's `panels`: rows and their panels placed left to right, wrapping at 24
    columns, with ids numbered in reading order."""
    out: list[Json] = []
    next_id = 1
    y = 0
    for row in rows:
        row_panel: Json = {
            "type": "row",
            "title": row.title,
            "collapsed": row.collapsed,
            "id": next_id,
            "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
            "panels": [],
        }
        next_id += 1
        y += 1
        out.append(row_panel)
        x, line_height = 0, 0
        for panel in row.panels:
            w, h = panel["gridPos"]["w"], panel["gridPos"]["h"]
            if x + w > GRID_WIDTH:
                y, x, line_height = y + line_height, 0, 0
            panel["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
            panel["id"] = next_id
            next_id += 1
            x += w
            line_height = max(line_height, h)
            (row_panel["panels"] if row.collapsed else out).append(panel)
        y += line_height
    return out


def dashboard(
    *,
    uid: str,
    title: str,
    description: str,
    variables: list[Json],
    links: list[Json],
    rows: list[Row],
    alert_marks: tuple[AlertMarks, ...] = (),
) -> Json:
    panels = layout(rows)
    ids = {p["title"]: p["id"] for row in panels for p in [row, *row.get("panels", [])] if p["type"] != "row"}
    annotations = []
    for marks in alert_marks:
        missing = [title for title in marks.panels if title not in ids]
        if missing:
            raise ValueError(f"{title}: annotation {marks.name!r} names panels that do not exist: {missing}")
        annotations.append(alert_annotation(marks, [ids[t] for t in marks.panels]))
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["vega", "vega-2.0"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "schemaVersion": 41,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": REFRESH,
        "timepicker": {"refresh_intervals": REFRESH_INTERVALS},
        "annotations": {"list": annotations},
        "templating": {"list": variables},
        "links": links,
        "panels": panels,
    }
