"""Value checks shared by every area: durations, sizes, hosts, names, quantities, schedules.

Each check either returns the parsed value or raises ValueError; the caller turns that into
one problem line naming the key, the value and what is allowed.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
SIZE = re.compile(r"^[1-9]\d*(B|KB|MB|GB|TB|PB|EB)$")
DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PINNED_TAG = re.compile(r"^v?\d+\.\d+\.\d+(?:[-+.][0-9A-Za-z.-]+)?$")
DOCKER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
QUANTITY_CPU = re.compile(r"^([1-9]\d*m|\d+(\.\d+)?)$")
QUANTITY_BYTES = re.compile(r"^[1-9]\d*(Ki|Mi|Gi|Ti)$")
HTTP_URL = re.compile(r"^https?://[^\s/]+")

# Prometheus holds a duration in int64 nanoseconds: about 292 years at most.
MAX_DURATION = (2**63 - 1) / 1e9
DURATION_HELP = "a Prometheus duration such as 30s, 5m, 15d or 1h30m, greater than zero and at most 292y"


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus-style duration; raises ValueError when malformed or zero."""
    match = DURATION.match(text) if text else None
    if not match or not any(match.groups()):
        raise ValueError(text)
    seconds = sum(int(g) * unit for g, unit in zip(match.groups(), _DURATION_UNITS, strict=True) if g)
    if not 0 < seconds <= MAX_DURATION:
        raise ValueError(text)
    return seconds


def is_host(host: str) -> bool:
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    if len(host) > 253:
        return False
    return all(DNS_LABEL.match(label) for label in host.split("."))


def check_target(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not is_host(host) or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(text)
    return text


def check_image(ref: str) -> str:
    """An image reference pinned to an exact release tag or a digest."""
    if "@" in ref:  # a digest: the image name, then @sha256: and 64 hex digits
        if not re.fullmatch(r"[^@\s]+@sha256:[0-9a-f]{64}", ref):
            raise ValueError(ref)
        return ref
    name, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag or not name or not PINNED_TAG.match(tag):
        raise ValueError(ref)
    return ref


def check_port(value: Any) -> int:
    if not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(value)
    return value


# minute, hour, day of month, month, day of week: the five fields of a Kubernetes CronJob
CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_CRON_NAMES = {
    3: ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    4: ("sun", "mon", "tue", "wed", "thu", "fri", "sat"),
}
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def check_cron(schedule: str) -> str:
    """A five-field cron schedule with every field in its range; ValueError says which field."""
    if schedule.strip() in _CRON_MACROS:
        return schedule
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(f"{len(fields)} fields")
    for index, (text, (name, low, high)) in enumerate(zip(fields, CRON_FIELDS, strict=True)):
        names = _CRON_NAMES.get(index, ())
        for part in text.split(","):
            if not _cron_part_ok(part.lower(), low, high, names):
                raise ValueError(f"{name} {text!r} outside {low}-{high}")
    return schedule


def _cron_part_ok(part: str, low: int, high: int, names: tuple[str, ...]) -> bool:
    span, _, step = part.partition("/")
    if step and not (step.isdigit() and 1 <= int(step) <= high):
        return False
    if span in ("*", "?"):
        return True
    ends = span.split("-")
    if len(ends) > 2:
        return False
    values = []
    for end in ends:
        if end in names:
            values.append(names.index(end) + (1 if low == 1 else 0))
        elif end.isdigit():
            values.append(int(end))
        else:
            return False
    return all(low <= v <= high for v in values) and values == sorted(values)


_BINARY = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}


def quantity(text: str) -> float:
    """The number in a Kubernetes quantity as this stack writes them (500m, 2, 512Mi, 4Gi):
    cores for CPU, bytes for memory and storage; ValueError when it is none of these."""
    if QUANTITY_CPU.match(text):
        return int(text[:-1]) / 1000 if text.endswith("m") else float(text)
    if QUANTITY_BYTES.match(text):
        return int(text[:-2]) * _BINARY[text[-2:]]
    raise ValueError(text)


def prometheus_bytes(text: str) -> int:
    """Bytes in a Prometheus size (--storage.tsdb.retention.size): its KB, MB, GB… are powers
    of 1024, as in Prometheus' own parser."""
    match = SIZE.match(text)
    if not match:
        raise ValueError(text)
    unit = match.group(1)
    power = ("B", "KB", "MB", "GB", "TB", "PB", "EB").index(unit)
    return int(text[: -len(unit)]) * 1024**power
