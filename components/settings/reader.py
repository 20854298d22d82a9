"""Typed access to the raw stack config and to the YAML files under configs/.

Nothing here stops at the first problem: every problem is recorded as one line (key or file,
value, what is allowed) and the caller raises one ConfigError with all of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from components.settings.checks import DURATION_HELP, check_port, check_target, parse_duration
from components.settings.model import SecretStr
from components.settings.schema import ROOT, KeySpec, configs_dir

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when present: the same documents, faster


class Reader:
    """Typed access to the raw stack config; records every problem instead of stopping."""

    def __init__(self, raw: Mapping[str, Any], schema: Mapping[str, KeySpec]):
        self.raw = dict(raw)
        self.schema = schema
        self.problems: list[str] = []

    def problem(self, key: str, value: Any, allowed: str, *, secret: bool = False) -> None:
        shown = "(secret value hidden)" if secret else repr(value)
        self.problems.append(f"{key}: {shown} is not allowed; expected {allowed}")

    def typed(self, key: str) -> Any:
        spec = self.schema[key]
        if key not in self.raw:
            return spec.default
        value = self.raw[key]
        try:
            return _convert(spec.type, value)
        except ValueError:
            self.problem(key, value, f"a value of type {spec.type}", secret=spec.secret)
            return spec.default

    def get(self, key: str, check: Callable[[Any], Any] | None = None, allowed: str = "") -> Any:
        value = self.typed(key)
        if check is None or value is None:
            return value
        try:
            return check(value)
        except ValueError:
            self.problem(key, value, allowed)
            return self.schema[key].default

    def choice(self, key: str, options: Iterable[str], default: str | None = None) -> str:
        """The value if it is one of options; `default` replaces the schema's default."""
        options = tuple(options)
        value = self.typed(key)
        if default is not None and key not in self.raw:
            value = default
        if value not in options:
            self.problem(key, value, "one of " + ", ".join(options))
            return options[0]
        return str(value)

    def duration(self, key: str) -> str:
        return str(self.get(key, _checked(parse_duration), DURATION_HELP))

    def port(self, key: str) -> int:
        return int(self.get(key, _checked(check_port), "a port number from 1 to 65535"))

    def targets(self, key: str, *, required: bool) -> tuple[str, ...]:
        values = self.typed(key) or []
        if required and not values:
            self.problem(key, values, "at least one host:port target")
            return ()
        good = []
        for item in values:
            try:
                good.append(check_target(str(item)))
            except ValueError:
                self.problem(key, item, "host:port with a DNS name or IP address and a port 1-65535")
        if len(set(good)) != len(good):
            self.problem(key, values, "each target listed once")
        return tuple(good)

    def secret(self, key: str) -> SecretStr | None:
        if key not in self.raw or self.raw[key] in (None, ""):
            return None
        return SecretStr(str(self.raw[key]))


def _checked(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Run fn for its check, keep the original value."""

    def run(value: Any) -> Any:
        fn(value)
        return value

    return run


def _convert(kind: str, value: Any) -> Any:
    if kind == "string":
        if isinstance(value, (dict, list)):
            raise ValueError(value)
        return str(value)
    if kind == "integer":
        if isinstance(value, bool):
            raise ValueError(value)
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if not re.fullmatch(r"-?\d+", text):
            raise ValueError(value)
        return int(text)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("true", "false"):
            raise ValueError(value)
        return text == "true"
    if kind == "array":
        items = value
        if isinstance(value, str):
            try:
                items = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(value) from exc
        if not isinstance(items, list) or any(isinstance(i, (dict, list)) for i in items):
            raise ValueError(value)
        return [str(i) for i in items]
    raise ValueError(f"unsupported schema type {kind}")


# --------------------------------------------------------------------------- files under configs/


def read_text(path: Path, problems: list[str], missing: str = "file is missing") -> str | None:
    """The text of a content file, or None with the problem recorded (missing, unreadable, not UTF-8)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(f"{rel(path)}: {missing}")
    except UnicodeDecodeError:
        problems.append(f"{rel(path)}: not UTF-8 text")
    except OSError as exc:
        problems.append(f"{rel(path)}: cannot be read ({exc.strerror or type(exc).__name__})")
    return None


def load_yaml(path: Path, problems: list[str], loader: type[Any] = SAFE_LOADER) -> Any:
    """The YAML document in path, or None with the problem recorded (file:line for a syntax error)."""
    text = read_text(path, problems)
    if text is None:
        return None
    try:
        return yaml.load(text, Loader=loader)  # a safe loader: SAFE_LOADER or a subclass
    except yaml.YAMLError as exc:
        problems.append(yaml_error(rel(path), exc))
    return None


def load_mapping(path: Path, problems: list[str], expected: str) -> dict[Any, Any] | None:
    """load_yaml for a file that holds one mapping; `expected` says what it maps."""
    doc = load_yaml(path, problems)
    if doc is None or isinstance(doc, dict):
        return doc
    problems.append(f"{rel(path)}: expected {expected}")
    return None


def yaml_error(where: str, exc: yaml.YAMLError) -> str:
    """One line: file:line and what the YAML parser expected."""
    mark = getattr(exc, "problem_mark", None)
    at = f"{where}:{mark.line + 1}" if mark is not None else where
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{at}: not valid YAML ({problem})"


def rel(path: Path) -> str:
    for base, shown in ((configs_dir(), "configs"), (ROOT, "")):
        try:
            rel = path.relative_to(base)
        except ValueError:
            continue
        return f"{shown}/{rel}" if shown else str(rel)
    return str(path)


def unknown_keys(where: str, mapping: Mapping[str, Any], allowed: Iterable[str], problems: list[str]) -> None:
    allowed = tuple(allowed)
    for key in mapping:
        if key not in allowed:
            problems.append(f"{where}: unknown key {key!r}; allowed keys are " + ", ".join(sorted(allowed)))
