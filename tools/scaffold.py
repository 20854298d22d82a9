"""A new alert in one command: the rule, its runbook section and its promtool test, as
skeletons to complete.

    python -m tools.scaffold alert QueueBacklogHigh warning     # `make new-alert NAME=… SEVERITY=…`

writes
    configs/prometheus/rules/alerts-custom.yml    the rule, in the group custom.rules
    docs/runbooks.md                              its section (Meaning, Impact, First checks, Remedies)
    tests/rules/alerts-custom.test.yml            a firing and a silent case for promtool
and regenerates the tables of alerts (tools/docs.py). What only a person can write (the
condition, the words, the test series) is marked `FILL IN`; `make test` names every marker
left, so nothing half-written passes.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

from components.settings import SEVERITIES, ConfigError, configs_dir
from tools import docs

ALERT_NAME = re.compile(r"(?:[A-Z][a-z0-9]+)+")  # CamelCase, as every alert of the stack
PLACEHOLDER = "FILL IN"
RULE_FILE = "alerts-custom.yml"
GROUP = "custom.rules"
TESTS_DIR = docs.ROOT / "tests" / "rules"
TEST_FILE = "alerts-custom.test.yml"

RULE_HEADER = f"""\
# Alerts of this installation, added with `make new-alert NAME=… SEVERITY=…`.
# Thresholds: configs/prometheus/thresholds.yaml. Runbooks: docs/runbooks.md.
groups:
  - name: {GROUP}
    rules:
"""

RULE = """\
      # {placeholder}: the condition; thresholds go in thresholds.yaml, used here as placeholders.
      - alert: {name}
        expr: vector(1) == 0
        for: 5m
        labels:
          severity: {severity}
        annotations:
          summary: "{placeholder}: one line, what is wrong"
          description: >-
            {placeholder}: what is wrong where ({{{{ $labels.instance }}}}), how much ({{{{ $value }}}}),
            and what stops working while it lasts.
          runbook_url: ${{runbook_base}}#{anchor}

"""

TEST_HEADER = f"""\
# promtool unit tests of configs/prometheus/rules/{RULE_FILE} (as rendered).
rule_files:
  - rules/{RULE_FILE}
evaluation_interval: 1m

tests:
"""

TEST = """\
  # {name}: {placeholder}: series that make it fire, then the labels and annotations expected.
  - interval: 1m
    input_series:
      - series: 'up{{job="{placeholder_metric}", instance="example:9000"}}'
        values: '1x20'
    alert_rule_test:
      - eval_time: 2m
        alertname: {name}
        exp_alerts: []            # {placeholder}: a time or series where it must stay quiet
      - eval_time: 15m
        alertname: {name}
        exp_alerts:
          - exp_labels:
              severity: {severity}
            exp_annotations:
              summary: "{placeholder}"

"""

RUNBOOK = """\
## {name}

**Meaning.** {placeholder}: what the condition says, with its thresholds
(`configs/prometheus/thresholds.yaml`).

**Impact.** {placeholder}: what users of Vega notice while it fires.

**First checks.**

```bash
# {placeholder}: the queries and commands that show what is wrong
promql 'up'
```

**Remedies.**
- {placeholder}: the usual causes, and how to make it stop for good.

"""


def existing_alerts() -> set[str]:
    """Names of the alerts of the rule files as rendered, and of the runbook sections."""
    names = {d.name for d in docs.alerts()}
    names |= set(re.findall(r"^## (\S+)\s*$", docs.RUNBOOKS.read_text(), flags=re.MULTILINE))
    return names


def problems(name: str, severity: str) -> list[str]:
    """Everything wrong with NAME and SEVERITY, all at once."""
    out = []
    if not ALERT_NAME.fullmatch(name):
        out.append(f"NAME {name!r} is not allowed: alert names are CamelCase, e.g. QueueBacklogHigh")
    elif name in existing_alerts():
        out.append(f"NAME {name!r} is not allowed: an alert or runbook section of that name exists already")
    if severity not in SEVERITIES:
        out.append(f"SEVERITY {severity!r} is not allowed; allowed are {', '.join(SEVERITIES)}")
    return out


def _appended(current: str | None, header: str, text: str, gap: bool = False) -> str:
    """`current` (or `header` for a new file) with `text` added at its end."""
    body = header if current is None else current.rstrip("\n") + ("\n\n" if gap else "\n")
    return body + text.rstrip("\n") + "\n"


def new_alert(name: str, severity: str) -> list[Path]:
    """Write the skeletons of a new alert; returns the files written. Either every file is
    written and the tables regenerated, or nothing changes."""
    found = problems(name, severity)
    if found:
        raise ConfigError(found)
    values = {"name": name, "severity": severity, "anchor": name.lower(), "placeholder": PLACEHOLDER}
    rules = configs_dir() / "prometheus" / "rules" / RULE_FILE
    tests = TESTS_DIR / TEST_FILE
    before = {path: path.read_text() if path.exists() else None for path in (rules, tests, docs.RUNBOOKS, docs.README)}
    if before[rules] is not None:
        groups = (yaml.safe_load(before[rules] or "") or {}).get("groups") or []
        if not groups or groups[-1].get("name") != GROUP:
            raise ConfigError([f"{rules}: the scaffold appends to the group {GROUP}, which must come last"])
    try:
        rules.write_text(_appended(before[rules], RULE_HEADER, RULE.format(**values)))
        test = TEST.format(placeholder_metric=PLACEHOLDER.lower().replace(" ", "-"), **values)
        tests.write_text(_appended(before[tests], TEST_HEADER, test))
        docs.RUNBOOKS.write_text(_appended(before[docs.RUNBOOKS], "", RUNBOOK.format(**values), gap=True))
        for path, generated in docs.generated().items():  # renders the rules: a broken file stops here
            path.write_text(generated)
    except BaseException:
        for path, text in before.items():
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text)
        raise
    return [rules, docs.RUNBOOKS, tests, docs.README]


def placeholders_left(paths: list[Path]) -> list[str]:
    """`file:line` of every scaffold marker still in the given files."""
    out = []
    for path in paths:
        if path.is_file():
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if PLACEHOLDER in line:
                    out.append(f"{path}:{number}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    alert = sub.add_parser("alert", help="a new alert: rule, runbook section, promtool test")
    alert.add_argument("name", help="CamelCase alert name, e.g. QueueBacklogHigh")
    alert.add_argument("severity", help=f"one of {', '.join(SEVERITIES)}")
    args = parser.parse_args(argv)
    try:
        written = new_alert(args.name, args.severity)
    except ConfigError as error:
        for problem in error.problems:
            print(f"new-alert: {problem}", file=sys.stderr)
        return 2
    except yaml.YAMLError as error:  # a rule file that does not parse: say where, no traceback
        print(f"new-alert: a rule file does not parse; nothing written: {error}", file=sys.stderr)
        return 2
    root = docs.ROOT
    print(f"Alert {args.name} ({args.severity}) scaffolded. Complete every '{PLACEHOLDER}' in:")
    for path in written[:3]:
        print(f"  {path.relative_to(root) if path.is_relative_to(root) else path}")
    print("then run `make docs` (the README's table quotes the summary) and `make test`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
