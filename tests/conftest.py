"""Shared fixtures: mock runs of the committed stacks, their offline renders, and the
policy for tests that need an upstream binary."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from components.settings import configs_dir
from tests.support import upstream
from tools.mockrun import Run, run_program
from tools.render import render

ROOT = Path(__file__).resolve().parent.parent
STACKS = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))


def _platform(stack: str) -> str:
    import yaml

    doc = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text()) or {}
    return str((doc.get("config") or {}).get("vega-observability:platform", "docker"))


# The committed stacks that run on kubernetes: they render manifests and web configs.
KUBERNETES_STACKS = [s for s in STACKS if _platform(s) == "kubernetes"]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# Every skip for a missing or too old binary starts with this and the binary's name, so the
# summary can count them.
MISSING_TOOL = "tool missing"


def need_tool(name: str) -> str:
    """Path of a binary: Prometheus' and Alertmanager's from .tools/bin first and at the versions
    of tests/support/upstream.py, any other from PATH. Missing or too old: a failure in CI, a
    visible skip elsewhere."""
    if name in upstream.MINIMUM:
        found = upstream.find(name)
        path, message = found.path, str(found) if found.problem else None
    else:
        path = shutil.which(name)
        message = None if path else f"{name} is not installed (Debian: apt-get install {name}; see .ci/run)"
    if path and not message:
        return path
    if IN_CI:
        pytest.fail(f"CI must have every tool: {message}")
    pytest.skip(f"{MISSING_TOOL}: {message}")


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The upstream binaries this run uses, with their versions, or what is missing and how to get it."""
    found = upstream.find_all()
    lines = ["upstream tools:"] + [f"  {f}" for f in found if not f.problem]
    problems = [f"  MISSING {f}" for f in found if f.problem]
    if problems:
        lines += [*problems, f"  the checks that need them will {'fail (CI)' if IN_CI else 'be skipped'}"]
    return lines


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many checks were skipped for a missing upstream tool, and how to run them."""
    counts: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        found = re.search(rf"{MISSING_TOOL}: ([\w.-]+)", str(getattr(report, "longrepr", "")))
        if found:
            counts[found.group(1)] = counts.get(found.group(1), 0) + 1
    if counts:
        per_tool = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
        upstream_missing = bool(counts.keys() & upstream.MINIMUM.keys())
        others_missing = bool(counts.keys() - upstream.MINIMUM.keys())
        hint = "; ".join([upstream.INSTALL_HINT] * upstream_missing + ["the others: see .ci/run"] * others_missing)
        terminalreporter.write_line(
            f"{sum(counts.values())} check(s) skipped for a missing or too old tool ({per_tool}); {hint}",
            yellow=True,
            bold=True,
        )


@pytest.fixture(scope="session")
def tool() -> Callable[[str], str]:
    return need_tool


_runs: dict[str, Run] = {}


def stack_run(stack: str) -> Run:
    """One mock run per committed stack per session (the program is deterministic)."""
    if stack not in _runs:
        _runs[stack] = run_program(stack)
    return _runs[stack]


@pytest.fixture(scope="session")
def dev_run() -> Run:
    return stack_run("dev")


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The offline render of a committed stack (built once per session)."""
    cache: dict[str, Path] = {}

    def get(stack: str) -> Path:
        if stack not in cache:
            out = tmp_path_factory.mktemp(f"render-{stack}")
            render(stack, out)
            cache[stack] = out
        return cache[stack]

    return get


@pytest.fixture
def configs_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of configs/ the program reads instead of the repository's."""
    copy = tmp_path / "configs"
    shutil.copytree(configs_dir(), copy)  # the content in use: $VEGA_CONFIGS_DIR when set
    monkeypatch.setenv("VEGA_CONFIGS_DIR", str(copy))
    yield copy
