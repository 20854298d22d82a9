"""The upstream binaries the tests and the benchmark run, found in one way: .tools/bin first
(what `make tools` unpacks there), then PATH, each held to the oldest version the proof accepts.

`python3 -m tests.support.upstream` prints what it found and exits 1 when a binary is missing
or too old (tools/install-upstream.sh runs it before and after unpacking). Standard library only:
it runs before the project's virtual environment exists.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
TOOLS_BIN = ROOT / ".tools" / "bin"
INSTALL_HINT = "run `make tools` (Debian unstable's packages, unpacked into .tools/bin)"

# The Prometheus line before the shipped one (3.5, long-term support) and the Alertmanager of
# Debian unstable: the oldest versions whose behaviour the tests describe.
PROMETHEUS_MINIMUM = (3, 5, 0)
ALERTMANAGER_MINIMUM = (0, 33, 0)
MINIMUM: dict[str, tuple[int, ...]] = {
    "prometheus": PROMETHEUS_MINIMUM,
    "promtool": PROMETHEUS_MINIMUM,
    "prometheus-alertmanager": ALERTMANAGER_MINIMUM,
    "amtool": ALERTMANAGER_MINIMUM,
}
# Debian names the Alertmanager binary prometheus-alertmanager; upstream's archive, alertmanager.
ALSO_NAMED = {"prometheus-alertmanager": ("alertmanager",)}
# Debian's Alertmanager does not embed its default notification templates: it reads them from
# this directory (compiled in) and refuses any config with `templates` when they are absent.
DEBIAN_ALERTMANAGER_TEMPLATES = Path("/usr/share/prometheus/alertmanager")


@dataclass(frozen=True)
class Found:
    """One binary: where it is, its version, and what is wrong with it (None: usable)."""

    name: str
    path: str | None
    version: str | None
    problem: str | None

    def __str__(self) -> str:
        if self.problem:
            return f"{self.name}: {self.problem}"
        return f"{self.name} {self.version} ({self.path})"


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def locate(name: str) -> str | None:
    """.tools/bin/<name>, else <name> (or its other name) on PATH."""
    for candidate in (name, *ALSO_NAMED.get(name, ())):
        local = TOOLS_BIN / candidate
        if local.is_file() and os.access(local, os.X_OK):
            return str(local)
    for candidate in (name, *ALSO_NAMED.get(name, ())):
        path = shutil.which(candidate)
        if path:
            return path
    return None


@functools.cache
def version_text(path: str) -> str:
    """What `<binary> --version` prints."""
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError as error:
        return str(error)
    return done.stdout + done.stderr


def version_of(path: str) -> str | None:
    """The version a binary reports (`<name>, version 3.5.3+ds1 (…)` -> 3.5.3+ds1)."""
    match = re.search(r"\bversion (\d+\.\d+\.\d+\S*)", version_text(path))
    return match.group(1) if match else None


def find(name: str) -> Found:
    """A binary of MINIMUM, located and version-checked."""
    minimum = MINIMUM[name]
    path = locate(name)
    if path is None:
        return Found(name, None, None, f"not found in {TOOLS_BIN} or PATH; {INSTALL_HINT}")
    version = version_of(path)
    numbers = tuple(int(n) for n in re.findall(r"\d+", version or "")[:3])
    if version is None or numbers < minimum:
        return Found(
            name, path, version, f"{path} is version {version or 'unknown'}, at least {_dotted(minimum)} is needed; {INSTALL_HINT}"
        )
    debian_build = "branch: debian/" in version_text(path)
    if name == "prometheus-alertmanager" and debian_build and not (DEBIAN_ALERTMANAGER_TEMPLATES / "default.tmpl").is_file():
        return Found(
            name, path, version, f"Debian's build reads its default templates from {DEBIAN_ALERTMANAGER_TEMPLATES}, "
            f"which has no default.tmpl; {INSTALL_HINT} as root (it copies them there)"
        )
    return Found(name, path, version, None)


def find_all() -> list[Found]:
    return [find(name) for name in MINIMUM]


def main() -> int:
    found = find_all()
    for item in found:
        print(f"  {item}")
    return 1 if any(item.problem for item in found) else 0


if __name__ == "__main__":
    sys.exit(main())
