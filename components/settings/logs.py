"""configs/loki/limits.yaml and configs/promtail/promtail-config.yaml: Loki's per-tenant
limits with the range each one means something in, and the shape of the log pipeline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.settings.checks import DURATION_HELP, parse_duration
from components.settings.reader import load_mapping, load_yaml, rel

# Loki's byte sizes (flagext.ByteSize): a plain number of bytes or a number with a unit.
_BYTES = re.compile(r"^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$")
_BYTE_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


@dataclass(frozen=True)
class Limit:
    kind: str  # "int", "float", "bytes", "duration", "bool"
    low: float = 0
    high: float = 0

    def allowed(self) -> str:
        if self.kind == "bool":
            return "true or false"
        if self.kind == "duration":
            return DURATION_HELP
        if self.kind == "bytes":
            return f"a size from {_human(self.low)} to {_human(self.high)}, such as 256KB or 3MB"
        number = "an integer" if self.kind == "int" else "a number"
        return f"{number} from {self.low:g} to {self.high:g}"


def _human(n: float) -> str:
    for unit, size in (("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)):
        if n >= size and n % size == 0:
            return f"{n // size:g}{unit}"
    return f"{n:g}B"


MB = 1000**2
# The limits_config keys the stack lets configs/loki/limits.yaml set, each with the range in
# which it protects Loki (0 or a negative value would switch a limit off or break ingestion).
LOKI_LIMITS = {
    "ingestion_rate_mb": Limit("float", 0.1, 1024),
    "ingestion_burst_size_mb": Limit("float", 0.1, 4096),
    "per_stream_rate_limit": Limit("bytes", 1000, 1024 * MB),
    "per_stream_rate_limit_burst": Limit("bytes", 1000, 4096 * MB),
    "max_global_streams_per_user": Limit("int", 1, 10_000_000),
    "max_label_names_per_series": Limit("int", 1, 100),
    "max_label_value_length": Limit("int", 1, 65536),
    "max_label_name_length": Limit("int", 1, 1024),
    "max_line_size": Limit("bytes", 1000, 100 * MB),
    "max_line_size_truncate": Limit("bool"),
    "reject_old_samples": Limit("bool"),
    "reject_old_samples_max_age": Limit("duration"),
    "max_query_series": Limit("int", 1, 1_000_000),
    "max_entries_limit_per_query": Limit("int", 1, 1_000_000),
    "allow_structured_metadata": Limit("bool"),
    "volume_enabled": Limit("bool"),
    "max_streams_per_user": Limit("int", 0, 10_000_000),
    "max_query_length": Limit("duration"),
    "max_query_parallelism": Limit("int", 1, 1024),
    "split_queries_by_interval": Limit("duration"),
}


def parse_bytes(value: Any) -> float:
    """Bytes in a Loki size (3MB, 256KB, 1048576); ValueError when malformed."""
    if isinstance(value, bool):
        raise ValueError(value)
    match = _BYTES.match(str(value).strip())
    if not match:
        raise ValueError(value)
    return float(match.group(1)) * _BYTE_UNITS[match.group(2) or ""]


def _value(limit: Limit, value: Any) -> float | bool:
    """The limit's value as a number (seconds for durations); ValueError when out of range."""
    if limit.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(value)
        return value
    if limit.kind == "duration":
        return parse_duration(str(value))
    if limit.kind == "bytes":
        number = parse_bytes(value)
    elif isinstance(value, bool) or not isinstance(value, int if limit.kind == "int" else (int, float)):
        raise ValueError(value)
    else:
        number = float(value)
    if not limit.low <= number <= limit.high:
        raise ValueError(value)
    return number


def load_loki_limits(configs: Path, problems: list[str]) -> dict[str, float | bool]:
    """The limits of configs/loki/limits.yaml, as numbers (seconds, bytes) by key."""
    path = configs / "loki" / "limits.yaml"
    where = rel(path)
    doc = load_mapping(path, problems, "a mapping of limits_config keys")
    if doc is None:
        return {}
    out: dict[str, float | bool] = {}
    for key, value in doc.items():
        if key == "retention_period":
            problems.append(f"{where} retention_period: set by the lokiRetention stack key; remove it here")
            continue
        limit = LOKI_LIMITS.get(str(key))
        if limit is None:
            problems.append(f"{where}: unknown key {key!r}; allowed are " + ", ".join(LOKI_LIMITS))
            continue
        try:
            out[str(key)] = _value(limit, value)
        except ValueError:
            problems.append(f"{where} {key}: {value!r} is not allowed; expected {limit.allowed()}")
    pairs = (("ingestion_rate_mb", "ingestion_burst_size_mb"), ("per_stream_rate_limit", "per_stream_rate_limit_burst"))
    for rate, burst in pairs:
        if rate in out and burst in out and out[burst] < out[rate]:
            problems.append(f"{where} {burst}: {doc[burst]!r} is not allowed; expected at least {rate} ({doc[rate]!r})")
    return out


PIPELINE = Path("promtail") / "promtail-config.yaml"


def check_pipeline(configs: Path, platform: str, problems: list[str]) -> None:
    """The log pipeline: a scrape_configs list of named jobs, at least one for this platform."""
    path = configs / PIPELINE
    where = rel(path)
    doc = load_yaml(path, problems)
    if doc is None:
        return
    if not isinstance(doc, dict) or not isinstance(doc.get("scrape_configs"), list):
        problems.append(f"{where}: expected a promtail config with a scrape_configs list")
        return
    other = "kubernetes" if platform == "docker" else "docker"
    names: set[str] = set()
    kept = 0
    for i, job in enumerate(doc["scrape_configs"]):
        at = f"{where} scrape_configs[{i}]"
        if not isinstance(job, dict):
            problems.append(f"{at}: {job!r} is not allowed; expected a mapping with job_name")
            continue
        name = job.get("job_name")
        if not isinstance(name, str) or not name:
            problems.append(f"{at}.job_name: missing; every log job needs a job_name")
            continue
        if name in names:
            problems.append(f"{at}.job_name: {name!r} is already defined in this file")
        names.add(name)
        stages = job.get("pipeline_stages")
        if stages is not None and not (isinstance(stages, list) and all(isinstance(s, dict) for s in stages)):
            problems.append(f"{at}.pipeline_stages: expected a list of stages, each a mapping such as {{json: …}}")
        if not name.startswith(f"{other}-"):
            kept += 1
    if not kept:
        problems.append(f"{where}: no scrape job left for platform {platform} (jobs named {other}-* are skipped)")
