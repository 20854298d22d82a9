"""The stack's two Grafana dashboards as code.

    python -m tools.dashboards           write configs/grafana/dashboards/generated/*.json
    python -m tools.dashboards --check   exit 1 when the committed files differ from this code

The JSON files are committed (Grafana provisions them as they are); tests/test_dashboards.py
fails when they drift from this code, or when generated/ holds a file this code does not
write. A user's own dashboards go to configs/grafana/dashboards/ itself (its README says how).
The dashboards are built in dashboards_overview.py and dashboards_federated.py from the
blocks of dashboards_panels.py. Heavy queries read the recording rules of
configs/prometheus/rules/recording.yml; the metrics are those of docs/metrics.md plus
cAdvisor, node-exporter, postgres_exporter, `up` and `ALERTS`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tools.dashboard_queries import DASHBOARDS_DIR, GENERATED
from tools.dashboards_common import FEDERATED_UID, OVERVIEW_UID
from tools.dashboards_federated import federated_learning
from tools.dashboards_overview import system_overview
from tools.dashboards_panels import Json

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = DASHBOARDS_DIR / GENERATED


def build() -> dict[str, Json]:
    """{file name: dashboard} for configs/grafana/dashboards/generated/."""
    return {f"{OVERVIEW_UID}.json": system_overview(), f"{FEDERATED_UID}.json": federated_learning()}


def render() -> dict[str, str]:
    """{file name: JSON text}, stable: sorted keys, two-space indent, final newline."""
    return {name: json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n" for name, doc in build().items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail when the committed files differ")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = OUT_DIR / name
        if path.exists() and path.read_text() == text:
            continue
        if args.check:
            stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    strays = sorted(p.name for p in OUT_DIR.glob("*.json") if p.name not in render())
    if stale or strays:
        if stale:
            print(f"out of date: {', '.join(stale)}; run `python -m tools.dashboards`", file=sys.stderr)
        if strays:
            print(
                f"not generated here: {', '.join(strays)} in {OUT_DIR.relative_to(ROOT)}; "
                "a dashboard of your own goes to configs/grafana/dashboards/",
                file=sys.stderr,
            )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
