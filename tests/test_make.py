"""The README's first command: `make up` stops with instructions when a tool is missing,
before it touches any state; `make config` (the README's way to set keys and secrets) reaches
the state `make up` uses, without Docker. A stand-in `pulumi` records each call."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

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


# A stand-in Pulumi CLI: appends {argv, the state variables, stdin when a value is read from it}
# to $HOME/pulumi.jsonl. `stack select` fails until `stack init` has run, as for a new stack.
RECORDING_PULUMI = """#!/usr/bin/python3
import json, os, sys
args = sys.argv[1:]
home = os.environ["HOME"]
entry = {"argv": args, "env": {k: os.environ.get(k) for k in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_CONFIG_PASSPHRASE")}}
if args[:1] == ["config"] and "set" in args and len([a for a in args[args.index("set") + 1:] if not a.startswith("-")]) == 1:
    entry["stdin"] = sys.stdin.read()
with open(os.path.join(home, "pulumi.jsonl"), "a") as log:
    log.write(json.dumps(entry) + "\\n")
if args[:2] == ["stack", "select"] and not os.path.exists(os.path.join(home, "stack-" + args[2])):
    sys.exit(1)
if args[:2] == ["stack", "init"]:
    open(os.path.join(home, "stack-" + args[2]), "w").close()
"""


def stand_in_env(tmp_path: Path, *, docker: bool) -> dict[str, str]:
    """The environment of a shell whose PATH has the recording pulumi (and a working docker
    when asked) and the basics make needs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "pulumi").write_text(RECORDING_PULUMI)
    (bin_dir / "pulumi").chmod(0o755)
    docker_path = bin_dir / "docker"
    if docker:
        docker_path.write_text("#!/bin/sh\nexit 0\n")
        docker_path.chmod(0o755)
    else:
        docker_path.unlink(missing_ok=True)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}


def make(tmp_path: Path, args: list[str], *, docker: bool, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`make -s <args>` with the recording pulumi on PATH, state under tmp_path."""
    return subprocess.run(
        ["make", "-s", *args, f"VENV={VENV}", f"STATE_DIR={tmp_path / 'state'}"],
        cwd=ROOT, env=stand_in_env(tmp_path, docker=docker), input=stdin, capture_output=True, text=True, timeout=120,
    )


def calls(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "pulumi.jsonl").read_text().splitlines()]


def test_make_config_sets_a_secret_on_the_state_make_up_uses_without_docker(tmp_path: Path) -> None:
    assert not Path("/usr/bin/docker").exists(), "a system-wide docker would hide the no-Docker path"
    result = make(tmp_path, ["config", "ARGS=set --secret grafanaAdminPassword"], docker=False, stdin="a-long-admin-password\n")
    assert result.returncode == 0, result.stdout + result.stderr
    configured = calls(tmp_path)
    assert [c["argv"][:2] for c in configured] == [["stack", "select"], ["stack", "init"], ["config", "--stack"]]
    assert configured[-1]["argv"] == ["config", "--stack", "dev", "set", "--secret", "grafanaAdminPassword"]
    assert configured[-1]["stdin"] == "a-long-admin-password\n", "the value is read from stdin, not the command line"
    assert "a-long-admin-password" not in result.stdout + result.stderr
    passphrase = tmp_path / "state" / "passphrase"
    first = passphrase.read_text()
    assert passphrase.stat().st_mode & 0o077 == 0

    result = make(tmp_path, ["up"], docker=True)
    assert result.returncode == 0, result.stdout + result.stderr
    upped = calls(tmp_path)[len(configured):]
    assert [c["argv"][:2] for c in upped] == [["stack", "select"], ["up", "--stack"]], "the stack exists: no second init"
    assert {json.dumps(c["env"]) for c in configured + upped} == {json.dumps(configured[0]["env"])}
    assert configured[0]["env"] == {
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase),
        "PULUMI_CONFIG_PASSPHRASE": None,
    }
    assert passphrase.read_text() == first, "the passphrase is created once"


def readme_lines(word: str) -> list[str]:
    """Lines of the README's bash blocks that run `word` (comments dropped)."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.DOTALL)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if re.search(rf"(^|\| ){re.escape(word)}\b", line)]


def test_the_readmes_config_steps_run_as_written_reach_the_state_make_up_uses(tmp_path: Path) -> None:
    assert not readme_lines("pulumi config"), "a bare `pulumi config` misses the state `make up` uses"
    steps = readme_lines("make config")
    assert len(steps) >= 5, "the README's secret steps use `make config`"
    env = stand_in_env(tmp_path, docker=False)
    state = tmp_path / "state"
    for step in steps:  # as written; only the state directory is moved into tmp_path
        command = step.replace("make config", f"make -s VENV={VENV} STATE_DIR={state} config", 1)
        done = subprocess.run(
            ["bash", "-c", command], cwd=ROOT, env=env, input="a-value-typed-at-the-prompt\n",
            capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, f"{step}\n{done.stdout}{done.stderr}"
    recorded = calls(tmp_path)
    config_calls = [c for c in recorded if c["argv"][0] == "config"]
    assert len(config_calls) == len(steps)
    for call in recorded:
        assert call["env"] == {
            "PULUMI_BACKEND_URL": f"file://{state}",
            "PULUMI_CONFIG_PASSPHRASE_FILE": str(state / "passphrase"),
            "PULUMI_CONFIG_PASSPHRASE": None,
        }, call
    for call in config_calls:
        argv = call["argv"]
        assert isinstance(argv, list) and argv[3] == "set", argv
        if "--secret" in argv:  # a secret's value comes from the prompt or a pipe, never the command line
            assert str(call.get("stdin", "")).strip(), f"{argv}: the value must be read from stdin"
