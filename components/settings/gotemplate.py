"""A structural check of Go text/template text: the templates of Prometheus rule labels and
annotations and of Alertmanager notifications (configs/alertmanager/*.tmpl).

It finds what makes Go's parser refuse a template: unbalanced {{ }}, an unclosed comment or
string, `end` without a block or a block without `end`, `else` outside if/range/with,
`define` below the top level, an unnamed define/template/block, unbalanced parentheses,
and variables used before they are declared. Function names and fields are left to the
running service (their set differs between Prometheus and Alertmanager versions).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

BLOCKS = ("if", "range", "with", "define", "block")
KEYWORDS = (*BLOCKS, "else", "end", "template", "break", "continue")
# The variables Prometheus defines for rule label and annotation templates.
RULE_VARIABLES = ("$", "$labels", "$value", "$externalLabels", "$externalURL")

_VARIABLE = re.compile(r"\$[A-Za-z0-9_]*")
_DECLARATION = re.compile(r"(\$[A-Za-z0-9_]*)\s*(?:,\s*(\$[A-Za-z0-9_]*)\s*)?:?=")
_NAME = re.compile(r'^("(?:[^"\\]|\\.)*"|`[^`]*`)')


@dataclass
class Template:
    """What a template text defines and uses."""

    problems: list[str] = field(default_factory=list)
    defines: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)


def _actions(text: str) -> Iterable[tuple[int, str] | str]:
    """(line, action text) for each {{ }} action, or a problem string; comments are skipped."""
    pos = 0
    while True:
        start = text.find("{{", pos)
        close = text.find("}}", pos)
        if close != -1 and (start == -1 or close < start):
            yield f"line {_line(text, close)}: '}}}}' without an opening '{{{{'"
        if start == -1:
            return
        line = _line(text, start)
        i = start + 2
        if text.startswith("-", i) and i + 1 < len(text) and text[i + 1] in " \t\r\n":
            i += 1
        body_start = i
        quote = ""
        while i < len(text):
            ch = text[i]
            if quote:
                if ch == "\\" and quote == '"':
                    i += 2
                    continue
                if ch == quote:
                    quote = ""
                elif ch == "\n" and quote != "`":
                    break
            elif text.startswith("/*", i) and text[body_start:i].strip() == "":
                end = text.find("*/", i + 2)
                after = text[end + 2 :].lstrip(" \t\r\n-") if end != -1 else ""
                if end == -1 or not after.startswith("}}"):
                    yield f"line {line}: comment '{{{{/*' is not closed with '*/}}}}'"
                    return
                i = end + 2
                continue
            elif ch in "\"'`":
                quote = ch
            elif text.startswith("}}", i):
                break
            i += 1
        if i >= len(text) or not text.startswith("}}", i):
            what = "a string" if quote else "the action"
            yield f"line {line}: {what} opened here is not closed ('{{{{' without '}}}}')"
            return
        body = text[body_start:i]
        if body.endswith(" -") or body.endswith("\t-") or body.endswith("\n-"):
            body = body[:-1]
        if not body.strip().startswith("/*"):
            yield (line, body.strip())
        pos = i + 2


def _line(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _strip_strings(body: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"|`[^`]*`|\'(?:[^\'\\]|\\.)*\'', '""', body)


def parse(text: str, variables: Iterable[str] = ("$",)) -> Template:
    """Check text; every problem names its line and what Go's parser expects."""
    out = Template()
    stack: list[tuple[str, int]] = []  # open blocks: (keyword, line)
    scopes: list[set[str]] = [set(variables)]
    for item in _actions(text):
        if isinstance(item, str):
            out.problems.append(item)
            continue
        line, body = item
        if not body:
            out.problems.append(f"line {line}: empty action '{{{{ }}}}'")
            continue
        word = body.split(None, 1)[0].rstrip("(")
        rest = body[len(word):].strip()
        code = _strip_strings(body)
        if "{{" in code:
            out.problems.append(f"line {line}: '{{{{' inside an action: a '}}}}' is missing before it")
        if code.count("(") != code.count(")"):
            out.problems.append(f"line {line}: unbalanced parentheses in {{{{ {body} }}}}")
        if word in ("define", "block", "template"):
            match = _NAME.match(rest)
            if not match:
                out.problems.append(f"line {line}: {word} needs a quoted template name, e.g. {{{{ {word} \"name\" }}}}")
            else:
                name = match.group(1)[1:-1]
                (out.defines if word != "template" else out.calls).append(name)
                if word == "block":
                    out.defines.append(name)
        if word == "define" and stack:
            outer, since = stack[-1]
            out.problems.append(f"line {line}: define inside {outer} (line {since}); define only at top level")
        if word in BLOCKS:
            stack.append((word, line))
            scopes.append(set() if word == "define" else set(scopes[-1]))
            if word == "define":
                scopes[-1].add("$")
        elif word == "else":
            if not stack or stack[-1][0] not in ("if", "range", "with"):
                out.problems.append(f"line {line}: else outside an if, range or with block")
        elif word == "end":
            if not stack:
                out.problems.append(f"line {line}: end without an open if, range, with, define or block")
            else:
                stack.pop()
                scopes.pop()
        elif word in ("break", "continue") and not any(k == "range" for k, _ in stack):
            out.problems.append(f"line {line}: {word} outside a range block")
        declared = {m.group(1) for m in _DECLARATION.finditer(code)} | {
            m.group(2) for m in _DECLARATION.finditer(code) if m.group(2)
        }
        for var in _VARIABLE.findall(code):
            if var not in scopes[-1] and var not in declared:
                known = ", ".join(sorted(scopes[-1]))
                out.problems.append(f"line {line}: undefined variable {var} in {{{{ {body} }}}}; defined are {known}")
        scopes[-1] |= declared
    for word, line in stack:
        out.problems.append(f"line {line}: {word} is never closed with {{{{ end }}}}")
    return out
