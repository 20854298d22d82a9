"""What one Grafana refresh of a dashboard sends to Prometheus.

For every Prometheus target of every panel Grafana shows (panels of collapsed rows are not
queried until the row is opened), Grafana sends one request:

- an instant query (`/api/v1/query` at the end of the time range) for an instant target
  (tables, bar gauges, pie charts here);
- otherwise a range query (`/api/v1/query_range`) whose step is Grafana's interval: the time
  range divided by the panel's width in pixels (its max data points), rounded to a "nice"
  interval by Grafana's `roundInterval`, and at least the data source's scrape interval
  (`timeInterval`, 15s here); start and end are aligned to the step.

`$__interval` is that interval, `$__rate_interval` is max($__interval + scrape interval,
4 × scrape interval), `$__range` the time range; the dashboard's own variables are set to
"All" as `tools.dashboard_queries.substitute` does. Panel widths assume a browser window
1920 pixels wide (the 24 grid columns share it, less 16 pixels of padding per panel).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.dashboard_queries import load, substitute, variable_names

SCREEN_WIDTH = 1920
GRID_COLUMNS = 24
PANEL_PADDING = 16

# Grafana's roundInterval: (upper bound in ms, exclusive -> interval in ms).
_ROUND = (
    (10, 1), (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1500, 1000),
    (3500, 2000), (7500, 5000), (12500, 10000), (17500, 15000), (25000, 20000), (45000, 30000),
    (90000, 60000), (210000, 120000), (450000, 300000), (750000, 600000), (1050000, 900000),
    (1500000, 1200000), (2700000, 1800000), (5400000, 3600000), (9000000, 7200000),
    (16200000, 10800000), (32400000, 21600000), (86400000, 43200000), (604800000, 86400000),
    (1814400000, 604800000), (3628800000, 2592000000),
)  # fmt: skip
_BUILTIN = re.compile(r"\$\{(__\w+)\}|\$(__\w+)|\[\[(__\w+)\]\]")


def _substitute_builtins(expr: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        return values.get(name, match.group(0))

    return _BUILTIN.sub(value, expr)


def round_interval_ms(interval_ms: float) -> int:
    for bound, value in _ROUND:
        if interval_ms < bound:
            return value
    return 31536000000


def interval_ms(range_seconds: float, max_data_points: int, min_interval_seconds: float) -> int:
    """Grafana's calculateInterval: the step of a range query."""
    rounded = round_interval_ms(range_seconds * 1000 / max(1, max_data_points))
    return max(rounded, int(min_interval_seconds * 1000))


def duration(ms: int) -> str:
    """A PromQL duration for `ms` milliseconds."""
    if ms % 1000:
        return f"{ms}ms"
    seconds = ms // 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_duration(text: str) -> float:
    """Seconds of a Prometheus duration such as `15s`, `1m30s`, `2h`."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|[smhdwy])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(n) * units[u] for n, u in parts)


@dataclass(frozen=True)
class PanelTarget:
    panel: str
    expr: str  # as the dashboard stores it, variables not substituted
    instant: bool
    max_data_points: int
    variables: frozenset[str]


@dataclass(frozen=True)
class Request:
    """One request of a refresh: the expression with every variable substituted."""

    panel: str
    expr: str
    instant: bool
    step: float  # seconds; 0 for an instant query

    def params(self, now: float, range_seconds: float) -> tuple[str, dict[str, str]]:
        """(API path, form) of this request for a refresh at `now`."""
        if self.instant:
            return "query", {"query": self.expr, "time": f"{now:.3f}"}
        end = math.floor(now / self.step) * self.step
        start = math.floor((now - range_seconds) / self.step) * self.step
        return "query_range", {
            "query": self.expr,
            "start": f"{start:.0f}",
            "end": f"{end:.0f}",
            "step": f"{self.step:g}",
        }


def _visible_panels(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in doc.get("panels", []):
        if panel.get("type") == "row":
            continue  # a collapsed row keeps its panels inside; an open row has none
        yield panel


def panel_width(panel: dict[str, Any]) -> int:
    columns = int(panel.get("gridPos", {}).get("w", GRID_COLUMNS))
    return max(1, int(SCREEN_WIDTH * columns / GRID_COLUMNS) - PANEL_PADDING)


def dashboard_targets(path: str | Path) -> list[PanelTarget]:
    """Every Prometheus target Grafana queries on a refresh of the dashboard, in order."""
    doc = load(path)
    names = frozenset(variable_names(doc))
    out = []
    for panel in _visible_panels(doc):
        points = int(panel.get("maxDataPoints") or panel_width(panel))
        for target in panel.get("targets", []):
            ds = target.get("datasource") or panel.get("datasource") or {}
            if not isinstance(ds, dict) or ds.get("type") != "prometheus" or not target.get("expr"):
                continue
            instant = bool(target.get("instant")) and not target.get("range")
            out.append(PanelTarget(str(panel.get("title", "")), str(target["expr"]), instant, points, names))
    return out


def refresh_requests(targets: list[PanelTarget], range_seconds: float, scrape_seconds: float) -> list[Request]:
    """The requests of one refresh over the last `range_seconds`."""
    out = []
    scrape_ms = int(scrape_seconds * 1000)
    for target in targets:
        step_ms = interval_ms(range_seconds, target.max_data_points, scrape_seconds)
        builtins = {
            "__interval": duration(step_ms),
            "__interval_ms": str(step_ms),
            "__rate_interval": duration(max(step_ms + scrape_ms, 4 * scrape_ms)),
            "__range": duration(int(range_seconds * 1000)),
            "__range_s": str(int(range_seconds)),
            "__range_ms": str(int(range_seconds * 1000)),
        }

        expr = substitute(_substitute_builtins(target.expr, builtins), set(target.variables))
        out.append(Request(target.panel, expr, target.instant, 0.0 if target.instant else step_ms / 1000))
    return out
