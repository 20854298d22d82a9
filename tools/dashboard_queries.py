"""The queries of a Grafana dashboard JSON file, ready to send to Prometheus.

    from tools.dashboard_queries import dashboard_prometheus_queries
    for title, expr in dashboard_prometheus_queries("configs/grafana/dashboards/generated/vega-system-overview.json"):
        ...  # GET /api/v1/query?query=<expr>

Grafana fills in its variables before a query leaves the browser; these helpers do the same
with fixed values, so a query can be checked by promtool or run against a live Prometheus:

- every template variable of the dashboard (`$job`, `${participant}`, `${silo:regex}`, ...)
  becomes `.*`: what the dashboard sends when the variable is set to "All" (their allValue),
  so the query selects every series it would select on a fresh dashboard;
- `$__rate_interval` becomes `1m` (four scrapes at the stack's 15s scrape interval, the
  smallest window Grafana picks); `$__interval` 15s; `$__range` 1h and `$__range_s` 3600.

A variable the dashboard does not define raises ValueError, so a typo cannot pass unnoticed.

Queries read the metrics of docs/metrics.md, of cAdvisor, node-exporter, postgres_exporter,
`up`, or recording rules built from them; `metric_names()` tells which, so a caller can keep
the queries its exporters can answer (the database panels answer only with a postgres_exporter
target, by design).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ALL = ".*"
# A label no series carries. A matcher `vega_dashboard_filter!~"(?:$a)(?:$b)"` selects every
# series while one of the variables a, b holds a value, and none while all are "All" (".*"
# matches the empty value the missing label has): how a panel reads its finer recorded series
# only once a variable narrows it (tools/dashboards_common.py, `at_level`).
FILTER_GUARD_LABEL = "vega_dashboard_filter"
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}

_VARIABLE = re.compile(r"\$\{(\w+)(?:[:.][^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")


# Where the dashboards live: configs/grafana/dashboards/generated/ holds what tools/dashboards.py
# writes, configs/grafana/dashboards/ itself a user's own JSON (its README says how). Grafana
# gets both apart, one provider each: /etc/grafana/dashboards/generated/ and .../custom/
# (components/grafana/config.py).
DASHBOARDS_DIR = Path(__file__).resolve().parent.parent / "configs" / "grafana" / "dashboards"
GENERATED = "generated"  # the folder names of components/grafana/config.py (a test holds them equal)
CUSTOM = "custom"


def dashboard_files(root: Path = DASHBOARDS_DIR, *, generated: bool = True, own: bool = True) -> list[Path]:
    """The dashboard JSON files under `root` (configs/grafana/dashboards/ or a rendered
    /etc/grafana/dashboards/): the generated ones, then the user's own (in `root` itself or
    in custom/), each sorted by name."""
    folders = ([root / GENERATED] if generated else []) + ([root, root / CUSTOM] if own else [])
    return [path for folder in folders for path in sorted(folder.glob("*.json")) if path.is_file()]


def load(path: str | Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(Path(path).read_text())
    return doc


def panels(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel that is not a row, including those inside collapsed rows."""
    for panel in doc.get("panels", []):
        if panel.get("type") == "row":
            yield from (child for child in panel.get("panels", []) if child.get("type") != "row")
        else:
            yield panel


def variable_names(doc: dict[str, Any]) -> set[str]:
    return {v["name"] for v in doc.get("templating", {}).get("list", [])}


def substitute(expr: str, variables: set[str]) -> str:
    """`expr` with Grafana's variables replaced by the values this module documents."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name in BUILTINS:
            return BUILTINS[name]
        if name in variables:
            return ALL
        raise ValueError(f"{expr!r} uses ${name}, which the dashboard does not define")

    return _VARIABLE.sub(value, expr)


def _is_prometheus(node: dict[str, Any]) -> bool:
    ds = node.get("datasource")
    return isinstance(ds, dict) and ds.get("type") == "prometheus"


def dashboard_prometheus_queries(path: str | Path) -> list[tuple[str, str]]:
    """[(panel title, PromQL expression with variables substituted)] for every Prometheus
    target of every panel, in the dashboard's order (a panel with several targets appears
    once per target)."""
    doc = load(path)
    names = variable_names(doc)
    out = []
    for panel in panels(doc):
        for target in panel.get("targets", []):
            if _is_prometheus(target) and target.get("expr"):
                out.append((str(panel["title"]), substitute(target["expr"], names)))
    return out


_LABEL_VALUES = re.compile(r"^label_values\((?:(.+),\s*)?(\w+)\)$")


def variable_prometheus_selectors(path: str | Path) -> list[tuple[str, str]]:
    """[(variable name, series selector)] of the `label_values(selector, label)` variables on
    Prometheus, variables substituted; a variable without a selector is left out."""
    doc = load(path)
    names = variable_names(doc)
    out = []
    for variable in doc.get("templating", {}).get("list", []):
        if variable.get("type") != "query" or not _is_prometheus(variable):
            continue
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        match = _LABEL_VALUES.match(query.strip())
        if not match:
            raise ValueError(f"variable {variable['name']}: unsupported query {query!r}")
        if match.group(1):
            out.append((variable["name"], substitute(match.group(1), names)))
    return out


# --- metric names -----------------------------------------------------------------------------

_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "offset", "bool", "inf", "nan", "start", "end",
}  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(?!\w)")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, aggregations, keywords, label
    names and label values left out)."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", "{}", text)
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name = match.group(1)
        rest = text[match.end() :].lstrip()
        if name.lower() in _KEYWORDS or rest.startswith("("):
            continue
        names.add(name)
    return names
