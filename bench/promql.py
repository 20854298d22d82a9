"""Inline recording rules: the same query computed from the raw series.

A recording rule `record: N, expr: E` stores, at every evaluation, the result of `E` under the
name `N` (plus the rule's `labels`). A query reading `N{matchers}` therefore equals, at an
evaluation timestamp, the query with `N{matchers}` replaced by `(E)` filtered by `matchers`.
PromQL cannot filter an arbitrary expression by label matchers, so the filter is pushed down:

- a matcher on a label that survives `E` unchanged (every aggregation in `E` keeps it with
  `by (...)`, or does not drop it with `without (...)`; every `on (...)` keeps it, every
  `ignoring (...)` leaves it alone; no function rewrites labels) is added to every series
  selector inside `E`: a result series carries the label value of the input series it was
  computed from, so filtering the inputs selects exactly the results the matcher selects;
- a matcher on a label that `E` drops is dropped when it matches the empty string (what the
  recorded series carries for that label, e.g. `=~".*"`), and refused otherwise;
- a matcher on the dashboards' guard label (`tools.dashboard_queries.FILTER_GUARD_LABEL`,
  carried by no series) is pushed down as it is: it selects the raw series exactly when it
  selects the recorded ones;
- a matcher on one of the rule's own `labels` is decided at once (the value is fixed);
  those labels are put back with `label_replace(...)` so the result carries them too.

Recording rules that read other recording rules are inlined recursively. A form this module
cannot prove equivalent (a range selector or `offset` on a recorded series, `topk` or
`quantile` without a grouping that keeps the label, `label_replace`, `vector()`, ...) raises
`UnsupportedExpansion` rather than producing a different query.

The scanner below understands enough of PromQL's lexical structure (strings, label matchers,
range brackets, grouping clauses, numbers and durations) to find series selectors; it is not
a full parser, which is why the benchmark also compares both forms numerically.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tools.dashboard_queries import FILTER_GUARD_LABEL

_STR = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'
_TOKEN = re.compile(
    rf"""
    (?P<string>{_STR})
  | (?P<clause>\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\))
  | (?P<braces>\{{(?:[^}}"'`]|{_STR})*\}})
  | (?P<range>\[[^\]]*\])
  | (?P<number>\d[\w.]*)
  | (?P<ident>[A-Za-z_:][\w:]*)
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_MATCHER = re.compile(rf"\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*({_STR})\s*(?:,|$)", re.DOTALL)
_CLAUSE = re.compile(r"(\w+)\s*\(([^)]*)\)", re.DOTALL)

KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2", "group_left", "group_right"})
AGGREGATIONS = frozenset(
    {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile"}
)
# Functions whose result does not carry its input's labels as they were.
LABEL_CHANGING = frozenset(
    {"label_replace", "label_join", "vector", "scalar", "absent", "absent_over_time", "count_values", "time"}
)


class UnsupportedExpansion(ValueError):
    """The expression uses a recorded series in a way that cannot be inlined faithfully."""


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str  # the value, unquoted

    @property
    def text(self) -> str:
        return f"{self.label}{self.op}{json.dumps(self.value)}"

    def matches(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        found = re.fullmatch(self.value, value) is not None
        return found if self.op == "=~" else not found


@dataclass(frozen=True)
class Selector:
    name: str
    matchers: tuple[Matcher, ...]
    start: int  # span of the name and its braces in the expression
    end: int
    braces: Token | None
    after: Token | None  # the next significant token


Rules = Mapping[str, Sequence[RecordingRule]]


def load_rules(paths: Iterable[str | Path]) -> dict[str, tuple[RecordingRule, ...]]:
    """Every recording rule of the given rule files, by record name (a name recorded by
    several rules, each with its own `labels`, has several)."""
    rules: dict[str, tuple[RecordingRule, ...]] = {}
    for path in paths:
        doc = yaml.safe_load(Path(path).read_text()) or {}
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                if "record" in rule:
                    found = RecordingRule(rule["record"], str(rule["expr"]).strip(), dict(rule.get("labels") or {}))
                    rules[found.record] = (*rules.get(found.record, ()), found)
    return rules


def tokens(expr: str) -> list[Token]:
    return [Token(m.lastgroup or "other", m.group(), m.start(), m.end()) for m in _TOKEN.finditer(expr)]


def _unquote(text: str) -> str:
    if text.startswith("`"):
        return text[1:-1]
    if text.startswith("'"):
        text = '"' + text[1:-1].replace('"', '\\"').replace("\\'", "'") + '"'
    value: str = json.loads(text)
    return value


def parse_matchers(braces: str) -> tuple[Matcher, ...]:
    """The matchers of `{...}`."""
    body = braces.strip()[1:-1]
    out = []
    pos = 0
    while body[pos:].strip():
        match = _MATCHER.match(body, pos)
        if not match:
            raise UnsupportedExpansion(f"cannot read label matchers {braces!r}")
        out.append(Matcher(match.group(1), match.group(2), _unquote(match.group(3))))
        pos = match.end()
    return tuple(out)


def squash(expr: str) -> str:
    """`expr` on one line: every run of white space outside strings becomes one space."""
    return "".join(" " if tok.kind == "space" else tok.text for tok in tokens(expr)).strip()


def _significant(toks: list[Token], index: int) -> tuple[int, Token | None]:
    """The first non-space token at or after `index`."""
    while index < len(toks) and toks[index].kind == "space":
        index += 1
    return index, (toks[index] if index < len(toks) else None)


def selectors(expr: str) -> list[Selector]:
    """Every series selector `name{...}` of the expression, in order."""
    toks = tokens(expr)
    out = []
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok.kind != "ident" or tok.text in KEYWORDS:
            i += 1
            continue
        j, nxt = _significant(toks, i + 1)
        if nxt is not None and (nxt.text == "(" or nxt.kind == "clause"):
            i += 1  # a function or an aggregation
            continue
        braces = None
        if nxt is not None and nxt.kind == "braces":
            braces = nxt
            j, nxt = _significant(toks, j + 1)
        matchers = parse_matchers(braces.text) if braces else ()
        end = braces.end if braces else tok.end
        out.append(Selector(tok.text, matchers, tok.start, end, braces, nxt))
        i = j
    return out


def _clause(text: str) -> tuple[str, set[str]]:
    match = _CLAUSE.match(text)
    if not match:
        raise UnsupportedExpansion(f"cannot read {text!r}")
    return match.group(1), {name.strip() for name in match.group(2).split(",") if name.strip()}


def _closing(toks: list[Token], open_index: int) -> int:
    depth = 0
    for k in range(open_index, len(toks)):
        if toks[k].text == "(":
            depth += 1
        elif toks[k].text == ")":
            depth -= 1
            if depth == 0:
                return k
    raise UnsupportedExpansion("unbalanced parentheses")


def label_survives(expr: str, label: str) -> bool:
    """True when every result series of `expr` carries `label` with the value of the input
    series it was computed from (see the module docstring)."""
    toks = tokens(expr)
    for i, tok in enumerate(toks):
        if tok.kind == "clause":
            keyword, names = _clause(tok.text)
            if keyword in ("group_left", "group_right"):
                return False
            if keyword in ("by", "on") and label not in names:
                return False
            if keyword in ("without", "ignoring") and label in names:
                return False
        if tok.kind != "ident":
            continue
        j, nxt = _significant(toks, i + 1)
        if tok.text in LABEL_CHANGING and nxt is not None and nxt.text == "(":
            return False
        if tok.text == "histogram_quantile" and label == "le":
            return False
        if tok.text in AGGREGATIONS and nxt is not None:
            if nxt.kind == "clause":
                continue
            if nxt.text != "(":
                continue
            _, after = _significant(toks, _closing(toks, j) + 1)
            if after is None or after.kind != "clause":
                return False  # an aggregation over everything keeps no label
    return True


def _matches_empty(matcher: Matcher) -> bool:
    return matcher.matches("")


def push_matchers(expr: str, matchers: Iterable[Matcher]) -> str:
    """`expr` with `matchers` added to every series selector in it; each matcher's label must
    survive `expr` (checked by the caller)."""
    extra = ", ".join(m.text for m in matchers)
    if not extra:
        return expr
    out = expr
    for sel in reversed(selectors(expr)):
        if sel.braces is not None:
            inner = sel.braces.text[1:-1].strip().rstrip(",").strip()
            body = f"{inner}, {extra}" if inner else extra
            out = out[: sel.braces.start] + "{" + body + "}" + out[sel.braces.end :]
        else:
            out = out[: sel.end] + "{" + extra + "}" + out[sel.end :]
    return out


def inline_rule(rule: RecordingRule, rules: Rules, matchers: Sequence[Matcher] = (), depth: int = 0) -> str | None:
    """The raw form of what `rule` records, filtered by `matchers`, without the rule's own
    labels; None when a matcher on a rule label excludes every series of the rule."""
    pushed = []
    for matcher in matchers:
        if matcher.label == "__name__":
            if not matcher.matches(rule.record):
                return None
            continue
        if matcher.label in rule.labels:
            if not matcher.matches(rule.labels[matcher.label]):
                return None
            continue
        if matcher.label == FILTER_GUARD_LABEL or label_survives(rule.expr, matcher.label):
            pushed.append(matcher)  # no series carries the guard label: it filters raw and recorded alike
        elif not _matches_empty(matcher):
            raise UnsupportedExpansion(f"{rule.record} drops {matcher.label}, which {matcher.text} requires")
    return inline(push_matchers(squash(rule.expr), pushed), rules, depth + 1)


def _inline_selector(sel: Selector, variants: Sequence[RecordingRule], rules: Rules, depth: int) -> str:
    if sel.after is not None and (sel.after.kind == "range" or sel.after.text in ("offset", "@")):
        raise UnsupportedExpansion(f"{sel.name} is used with a range or a time modifier")
    parts = []
    for rule in variants:
        body = inline_rule(rule, rules, sel.matchers, depth)
        if body is None:
            continue
        text = f"({body})"
        for name, value in sorted(rule.labels.items()):
            text = f'label_replace({text}, {json.dumps(name)}, {json.dumps(value)}, "", "")'
        parts.append(text)
    if not parts:
        raise UnsupportedExpansion(f"no rule recording {sel.name} matches {[m.text for m in sel.matchers]}")
    # Rules recording one name carry different labels, so their series are distinct: a union.
    return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"


def inline(expr: str, rules: Rules, depth: int = 0) -> str:
    """`expr` with every recorded series replaced by the raw expression that records it."""
    if depth > 20:
        raise UnsupportedExpansion("recording rules nest too deep (a cycle?)")
    out = expr
    for sel in reversed(selectors(expr)):
        variants = rules.get(sel.name)
        if variants:
            out = out[: sel.start] + _inline_selector(sel, variants, rules, depth) + out[sel.end :]
    return out


def recorded_names(expr: str, rules: Rules) -> set[str]:
    """The recorded series `expr` reads directly."""
    return {sel.name for sel in selectors(expr) if sel.name in rules}


def dependencies(names: Iterable[str], rules: Rules) -> set[str]:
    """`names` and every recorded series their rules read, recursively."""
    found: set[str] = set()
    todo = [n for n in names if n in rules]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        for rule in rules[name]:
            todo += [n for n in recorded_names(rule.expr, rules) if n not in found]
    return found
