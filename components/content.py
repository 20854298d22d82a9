"""Helpers shared by the config renderers: stable YAML/JSON and the files under configs/.

What those files mean is checked earlier, with the stack settings (components/settings/);
here they are only read and written out.

Rendered files are deterministic (sorted keys, fixed layout), so a diff of two renders shows
exactly what a change does and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from components.settings import ConfigError, configs_dir
from components.settings.rules import fill as fill_placeholders


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings as literal blocks and never uses aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        text = "\n".join(line.rstrip() for line in value.splitlines())
        return dumper.represent_scalar("tag:yaml.org,2002:str", text + "\n", style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str_representer)


def to_yaml(data: Any, header: str = "") -> str:
    """Sorted, stable YAML; `header` becomes a comment block at the top."""
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=100, allow_unicode=True)
    lead = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines()) if header else ""
    return lead + body


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def read_text(relative: str, configs: Path | None = None) -> str:
    return ((configs or configs_dir()) / relative).read_text()


def read_yaml(relative: str, configs: Path | None = None) -> Any:
    path = (configs or configs_dir()) / relative
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError([f"configs/{relative}: not valid YAML ({exc})"]) from exc


def files_under(relative: str, pattern: str, configs: Path | None = None) -> dict[str, str]:
    """{file name: text} of the files matching pattern in configs/<relative>, sorted by name."""
    folder = (configs or configs_dir()) / relative
    return {p.name: p.read_text() for p in sorted(folder.glob(pattern)) if p.is_file()}


def fill(text: str, values: Mapping[str, Any], where: str) -> tuple[str, set[str]]:
    """Replace ${name} placeholders from values; unknown names are an error naming the file.

    Returns the text and the set of names used.
    """
    out, used, missing = fill_placeholders(text, values)
    if missing:
        known = ", ".join(sorted(values))
        raise ConfigError([f"{where}: unknown placeholder(s) {', '.join(sorted(missing))}; known are {known}"])
    return out, used
