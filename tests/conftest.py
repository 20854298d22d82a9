"""Shared fixtures: mock runs of the committed stacks, their offline renders, and the
policy for tests that need an upstream binary."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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


def need_tool(name: str) -> str:
    """Path of an upstream binary. Missing: a failure in CI, a visible skip elsewhere."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (Debian: see .ci/run)"
    if IN_CI:
        pytest.fail(f"CI must have every tool: {message}")
    pytest.skip(message)


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
    shutil.copytree(ROOT / "configs", copy)
    monkeypatch.setenv("VEGA_CONFIGS_DIR", str(copy))
    yield copy
