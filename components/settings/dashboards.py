"""The Grafana dashboards under configs/grafana/dashboards/: each one shaped as a dashboard, reading only
provisioned datasources, and no uid or title used twice (Grafana keeps one of them)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from components import endpoints
from components.settings.reader import read_text, rel

# The user's own dashboards, and those tools/dashboards.py writes (components/grafana/config.py).
FOLDERS = (Path("grafana") / "dashboards", Path("grafana") / "dashboards" / "generated")
UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
BUILTIN_DATASOURCES = ("-- Grafana --", "grafana", "-- Mixed --", "-- Dashboard --")


def check_dashboards(configs: Path, problems: list[str]) -> None:
    uids: dict[str, str] = {}
    titles: dict[str, str] = {}
    for path in sorted(p for folder in FOLDERS for p in (configs / folder).glob("*.json")):
        where = rel(path)
        text = read_text(path, problems)
        if text is None:
            continue
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}:{exc.lineno}: not valid JSON ({exc.msg})")
            continue
        if not isinstance(doc, dict):
            problems.append(f"{where}: a dashboard is a JSON object with title, uid and panels")
            continue
        title, uid = doc.get("title"), doc.get("uid")
        if not isinstance(title, str) or not title.strip():
            problems.append(f"{where} title: {title!r} is not allowed; expected the dashboard's name")
        elif title in titles:
            problems.append(f"{where} title: {title!r} is already used by {titles[title]}; titles are unique")
        else:
            titles[title] = where
        if not isinstance(uid, str) or not UID.match(uid):
            problems.append(f"{where} uid: {uid!r} is not allowed; expected 1-40 letters, digits, - and _")
        elif uid in uids:
            problems.append(f"{where} uid: {uid!r} is already used by {uids[uid]}; each dashboard needs its own")
        else:
            uids[uid] = where
        _panels(where, doc.get("panels"), problems)
        known = set(endpoints.DATASOURCE_UIDS.values()) | set(BUILTIN_DATASOURCES)
        for ds in sorted(_datasource_uids(doc) - known):
            if not ds.startswith("$"):
                problems.append(
                    f"{where}: datasource uid {ds!r} is not provisioned; use one of "
                    + ", ".join(endpoints.DATASOURCE_UIDS.values())
                )


def _panels(where: str, panels: Any, problems: list[str]) -> None:
    if not isinstance(panels, list):
        problems.append(f"{where} panels: {type(panels).__name__} is not allowed; expected a list of panels")
        return
    ids: set[int] = set()
    for i, panel in enumerate(panels):
        at = f"{where} panels[{i}]"
        if not isinstance(panel, dict) or not isinstance(panel.get("type"), str):
            problems.append(f"{at}: expected a panel object with a type (timeseries, stat, row, …)")
            continue
        pid = panel.get("id")
        if pid is not None and (not isinstance(pid, int) or pid in ids):
            problems.append(f"{at}.id: {pid!r} is not allowed; expected an integer no other panel uses")
        elif isinstance(pid, int):
            ids.add(pid)
        if "panels" in panel:  # a collapsed row holds its panels
            _panels(at, panel["panels"], problems)


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
