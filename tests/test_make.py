"""The README's first command: `make up` stops with instructions when a tool is missing,
before it touches any state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

VENV = Path(sys.executable).parent.parent


def make_up(tmp_path: Path, tools: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`make up` with a PATH holding only the given fake tools (name -> shell body) and the
    basics make needs; the state directory points into tmp_path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in tools.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(
        ["make", "-s", "up", f"VENV={VENV}", f"STATE_DIR={tmp_path / 'state'}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def test_make_up_without_pulumi_says_how_to_install_it(tmp_path: Path) -> None:
    if Path("/usr/bin/pulumi").exists() or Path("/bin/pulumi").exists():
        raise AssertionError("a system-wide pulumi would hide the missing-CLI path")
    result = make_up(tmp_path, {})
    assert result.returncode != 0
    assert "The Pulumi CLI is missing" in result.stdout
    assert "curl -fsSL https://get.pulumi.com | sh" in result.stdout
    assert not (tmp_path / "state").exists(), "nothing may be created before the tools are there"


def test_make_up_without_a_docker_daemon_says_how_to_start_it(tmp_path: Path) -> None:
    result = make_up(
        tmp_path,
        {
            "pulumi": 'echo "pulumi $*" >> "$HOME/pulumi.log"; exit 0',
            "docker": "exit 1",  # installed, but `docker info` fails: no daemon
        },
    )
    assert result.returncode != 0
    assert "Docker is installed but its daemon does not answer" in result.stdout
    assert not (tmp_path / "pulumi.log").exists(), "pulumi must not run without Docker"


def test_make_up_runs_pulumi_up_on_the_dev_stack_with_local_state(tmp_path: Path) -> None:
    result = make_up(
        tmp_path,
        {
            "pulumi": 'echo "pulumi $* backend=$PULUMI_BACKEND_URL" >> "$HOME/pulumi.log"; '
            'case "$1" in stack) [ "$2" = select ] && exit 1 ;; esac; exit 0',
            "docker": "exit 0",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    calls = (tmp_path / "pulumi.log").read_text().splitlines()
    assert calls[0].startswith("pulumi stack select dev")
    assert calls[1].startswith("pulumi stack init dev")
    assert calls[-1].startswith("pulumi up --stack dev")
    assert all(f"backend=file://{tmp_path / 'state'}" in call for call in calls)
    passphrase = tmp_path / "state" / "passphrase"
    assert len(passphrase.read_text().strip()) >= 32
    assert passphrase.stat().st_mode & 0o077 == 0, "the passphrase file must be private"
