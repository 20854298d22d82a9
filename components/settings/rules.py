"""configs/prometheus/: the rule files, the thresholds they use, the SLOs and the per-job
cardinality limits, checked for what they mean before anything is rendered.

Every expression is parsed as PromQL (promql-parser, the Prometheus 3 grammar with its type
checks: a range vector where an instant vector belongs, unknown functions, wrong argument
counts), after the ${name} placeholders are filled as the rendered file will have them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import promql_parser
import yaml

from components.settings import gotemplate
from components.settings.checks import DURATION_HELP, parse_duration
from components.settings.reader import load_mapping, load_yaml, read_text, rel, unknown_keys, yaml_error

RULES_DIR = Path("prometheus") / "rules"
RULE_SUFFIX = ".yml"
GROUP_KEYS = ("name", "interval", "query_offset", "limit", "labels", "rules")
RULE_KEYS = ("record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
ALERT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Values of the placeholders the stack fills itself (components/prometheus/config.py).
GENERATED = ("runbook_base", "scrape_sample_limits")
LIMIT_KEYS = ("sample_limit", "label_limit", "label_name_length_limit", "label_value_length_limit", "target_limit")


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe loader (libyaml's when present) whose mappings remember the line they start on."""


class Lined(dict[Any, Any]):
    line = 0


def _mapping(loader: _LineLoader, node: yaml.MappingNode) -> Lined:
    out = Lined(loader.construct_mapping(node, deep=True))
    out.line = node.start_mark.line + 1
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


# --------------------------------------------------------------------------- thresholds


DURATION_SUFFIXES = ("_window", "_for", "_age")


def _threshold_problem(name: str, value: Any) -> str | None:
    """What is wrong with one threshold, or None: a text must be a duration (and names ending
    in _window, _for or _age must hold one); a number is judged by its name's suffix."""
    if isinstance(value, str) or name.endswith(DURATION_SUFFIXES):
        try:
            parse_duration(value if isinstance(value, str) else "")
        except ValueError:
            return f"{DURATION_HELP}, or a plain number for names not ending in " + ", ".join(DURATION_SUFFIXES)
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "a number or a Prometheus duration"
    if name.endswith("_spike_ratio"):
        return None if value > 1 else "a multiple greater than 1 (a _spike_ratio compares with an average)"
    if name.endswith(("_ratio", "_drop")):
        return None if 0 < value <= 1 else "a share greater than 0 and at most 1 (0.05 = 5%)"
    if name.startswith("min_") or name.endswith(("_changes", "_count")):
        return None if value >= 0 and float(value).is_integer() else "a whole count of at least 0"
    return None if value >= 0 else "a number of at least 0"


def load_thresholds(configs: Path, problems: list[str]) -> dict[str, Any]:
    path = configs / "prometheus" / "thresholds.yaml"
    where = rel(path)
    doc = load_mapping(path, problems, "a flat mapping of name to value")
    if doc is None:
        return {}
    out = {}
    for name, value in doc.items():
        if isinstance(value, (dict, list)) or value is None:
            problems.append(f"{where} {name}: {value!r} is not allowed; expected a number or a duration")
            continue
        wrong = _threshold_problem(str(name), value)
        if wrong:
            problems.append(f"{where} {name}: {value!r} is not allowed; expected {wrong}")
        out[str(name)] = value
    return out


# --------------------------------------------------------------------------- PromQL


def check_promql(expr: str) -> str | None:
    """None when expr is a valid rule expression, else the parser's complaint."""
    try:
        parsed = promql_parser.parse(expr)
    except ValueError as exc:
        return str(exc).splitlines()[0]
    except BaseException as exc:  # the parser is native code; any failure is a bad expression
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return str(exc).splitlines()[0] or type(exc).__name__
    if isinstance(parsed, (promql_parser.MatrixSelector, promql_parser.SubqueryExpr, promql_parser.StringLiteral)):
        return "a rule's expression must give an instant vector or a scalar, not a range vector or a string"
    return None


def fill(text: str, values: Mapping[str, Any]) -> tuple[str, set[str], set[str]]:
    """text with ${name} replaced from values; returns (text, names used, unknown names)."""
    used: set[str] = set()
    missing: set[str] = set()

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            missing.add(name)
            return match.group(0)
        used.add(name)
        return str(values[name])

    return PLACEHOLDER.sub(sub, text), used, missing


# --------------------------------------------------------------------------- rule files


def check_rule_text(where: str, text: str, problems: list[str]) -> None:
    """One rule file's text (placeholders already filled): YAML, shape, names, durations,
    templates and PromQL."""
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        problems.append(yaml_error(where, exc))
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("groups"), list):
        problems.append(f"{where}: expected a mapping with a 'groups' list (Prometheus rule file format)")
        return
    unknown_keys(where, doc, ("groups",), problems)
    seen_groups: set[str] = set()
    for g, group in enumerate(doc["groups"]):
        at = f"{where}:{getattr(group, 'line', '?')} groups[{g}]"
        if not isinstance(group, dict):
            problems.append(f"{at}: expected a mapping with name and rules")
            continue
        unknown_keys(at, group, GROUP_KEYS, problems)
        name = group.get("name")
        if not isinstance(name, str) or not name:
            problems.append(f"{at}.name: missing; every group needs a name")
        elif name in seen_groups:
            problems.append(f"{at}.name: {name!r} is repeated in this file; group names are unique per file")
        seen_groups.add(str(name))
        for key in ("interval", "query_offset"):
            if key in group:
                _duration(f"{at}.{key}", group[key], problems)
        rules = group.get("rules")
        if not isinstance(rules, list) or not rules:
            problems.append(f"{at}.rules: expected a non-empty list of rules")
            continue
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        for i, rule in enumerate(rules):
            _rule(f"{where}:{getattr(rule, 'line', '?')} {name} rules[{i}]", rule, seen, problems)


def _duration(key: str, value: Any, problems: list[str]) -> None:
    try:
        parse_duration(str(value))
    except ValueError:
        problems.append(f"{key}: {value!r} is not allowed; expected {DURATION_HELP}")


def _rule(at: str, rule: Any, seen: set[tuple[str, tuple[tuple[str, str], ...]]], problems: list[str]) -> None:
    if not isinstance(rule, dict):
        problems.append(f"{at}: expected a mapping with record or alert, and expr")
        return
    unknown_keys(at, rule, RULE_KEYS, problems)
    alert, record = rule.get("alert"), rule.get("record")
    if (alert is None) == (record is None):
        problems.append(f"{at}: needs exactly one of 'record' and 'alert'")
        return
    name = str(alert if alert is not None else record)
    at = f"{at} {name}"
    if alert is not None and not ALERT_NAME.match(name):
        problems.append(f"{at}: alert name {name!r} is not allowed; expected CamelCase letters and digits")
    if record is not None:
        if not METRIC_NAME.match(name):
            problems.append(f"{at}: record {name!r} is not a metric name; expected letters, digits, _ and :")
        for key in ("for", "keep_firing_for", "annotations"):
            if key in rule:
                problems.append(f"{at}.{key}: only alerting rules take {key}")
    expr = rule.get("expr")
    if not isinstance(expr, (str, int, float)) or isinstance(expr, bool) or not str(expr).strip():
        problems.append(f"{at}.expr: missing; every rule needs a PromQL expression")
    else:
        complaint = check_promql(str(expr))
        if complaint:
            problems.append(f"{at}.expr: not valid PromQL ({complaint})")
    for key in ("for", "keep_firing_for"):
        if key in rule and alert is not None:
            _duration(f"{at}.{key}", rule[key], problems)
    labels = _templates(f"{at}.labels", rule.get("labels"), problems, names=True)
    _templates(f"{at}.annotations", rule.get("annotations"), problems, names=False)
    identity = (name, tuple(sorted(labels.items())))
    if identity in seen:
        problems.append(f"{at}: the same rule name with the same labels is already in this group")
    seen.add(identity)


def _templates(at: str, mapping: Any, problems: list[str], *, names: bool) -> dict[str, str]:
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        problems.append(f"{at}: expected a mapping of name to text")
        return {}
    out = {}
    for key, value in mapping.items():
        if names and (not LABEL_NAME.match(str(key)) or str(key).startswith("__")):
            problems.append(f"{at}: label name {key!r} is not allowed; expected letters, digits and _, not __*")
        if isinstance(value, (dict, list)) or value is None:
            problems.append(f"{at}.{key}: {value!r} is not allowed; expected a text")
            continue
        text = str(value)
        for problem in gotemplate.parse(text, gotemplate.RULE_VARIABLES).problems:
            problems.append(f"{at}.{key}: template {problem}")
        out[str(key)] = text
    return out


def check_rule_files(configs: Path, runbook_base: str, problems: list[str]) -> None:
    """Every rule file under configs/prometheus/rules/ and the SLO rules, with the thresholds
    filled in; thresholds that no rule uses are refused."""
    thresholds = load_thresholds(configs, problems)
    values: dict[str, Any] = {**thresholds, "runbook_base": runbook_base, "scrape_sample_limits": "vector(1)"}
    unused = set(thresholds)
    folder = configs / RULES_DIR
    for path in sorted(folder.glob(f"*{RULE_SUFFIX}")):
        where = rel(path)
        raw = read_text(path, problems)
        if raw is None:
            continue
        text, used, missing = fill(raw, values)
        unused -= used
        if missing:
            problems.append(
                f"{where}: unknown placeholder(s) {', '.join(sorted(missing))}; "
                f"known are the names in configs/prometheus/thresholds.yaml and {', '.join(GENERATED)}"
            )
        check_rule_text(where, text, problems)
    if unused and thresholds:
        problems.append(
            f"configs/prometheus/thresholds.yaml: {', '.join(sorted(unused))} not used by any rule; remove or use it"
        )
    _slo_rules(configs, runbook_base, problems)


def _slo_rules(configs: Path, runbook_base: str, problems: list[str]) -> None:
    from components.prometheus import slo  # imported here: it imports this package
    from components.settings.model import ConfigError

    path = configs / "prometheus" / "slo.yaml"
    doc = load_yaml(path, problems)
    if doc is None:
        return
    try:
        config = slo.load(doc)
    except ConfigError as error:
        problems.extend(error.problems)
        return
    taken = configs / RULES_DIR / slo.RULE_FILE
    if taken.exists():
        problems.append(f"{rel(taken)}: this name is taken by the rules made from slo.yaml; rename the file")
    check_rule_text(f"{rel(path)} (generated {slo.RULE_FILE})", slo.render(config, runbook_base), problems)


# --------------------------------------------------------------------------- limits.yaml


def check_scrape_limits(configs: Path, jobs: list[str], problems: list[str]) -> None:
    """configs/prometheus/limits.yaml, each per-job block naming a job the stack scrapes."""
    path = configs / "prometheus" / "limits.yaml"
    doc = load_yaml(path, problems)
    if doc is not None:
        problems.extend(scrape_limit_problems(doc, rel(path), jobs))


def scrape_limit_problems(doc: Any, where: str, jobs: list[str] | None = None) -> list[str]:
    """What is wrong with a limits.yaml document: a default block and per-job blocks of
    integers from 1 to 10^9 (and, given `jobs`, per-job blocks only for those jobs)."""
    problems: list[str] = []
    if not isinstance(doc, dict) or not isinstance(doc.get("default"), dict):
        return [f"{where}: expected a 'default' mapping of limits"]
    unknown_keys(where, doc, ("default", "jobs"), problems)
    per_job = doc.get("jobs") or {}
    if not isinstance(per_job, dict):
        problems.append(f"{where} jobs: {per_job!r} is not allowed; expected a mapping of job name to limits")
        per_job = {}
    sections = {"default": doc["default"], **{f"jobs.{j}": v for j, v in per_job.items()}}
    for job in per_job:
        if jobs is not None and job not in jobs:
            problems.append(f"{where} jobs.{job}: not a scrape job of this stack; known are " + ", ".join(jobs))
    for name, body in sections.items():
        if not isinstance(body, dict):
            problems.append(f"{where} {name}: {body!r} is not allowed; expected a mapping of limits")
            continue
        for key, value in body.items():
            if key not in LIMIT_KEYS:
                problems.append(f"{where} {name}: unknown limit {key!r}; allowed are " + ", ".join(LIMIT_KEYS))
            elif not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10**9:
                problems.append(f"{where} {name}.{key}: {value!r} is not allowed; expected an integer from 1 to 10^9")
    return problems
