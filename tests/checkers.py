"""The real upstream validators, one small function per check.

Each function takes the path of the binary it runs (tests find it through the `tool` fixture
of tests/conftest.py, or the project's virtual environments) and returns a Result: whether the
check passed and what the tool said, so an assertion can print it.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent

# The Kubernetes versions the rendered manifests must be valid for: the oldest and the newest
# minor the project supports. Upstream maintains the three newest minors; the newest one whose
# schemas kubernetes-validate 1.37.0 ships is 1.37, so 1.35 is the oldest still maintained.
# The strings are the package's own schema versions (kubernetes_validate/kubernetes-json-schema).
SUPPORTED_KUBERNETES = ("1.35.0", "1.37.0")

# kubernetes-validate lives in the project venv; checkov in its own (`make checkov-venv`),
# since its pins clash with Pulumi's.
KUBERNETES_VALIDATE = Path(sys.executable).parent / "kubernetes-validate"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CHECKOV_SKIPS = ROOT / "tests" / "checkov-skips.yaml"

TIMEOUT = 180


@dataclass(frozen=True)
class Result:
    ok: bool
    output: str

    def __str__(self) -> str:
        return self.output


def execute(
    cmd: Sequence[str | Path], *, cwd: Path | None = None, timeout: int = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    argv = [str(part) for part in cmd]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def run(cmd: Sequence[str | Path], *, cwd: Path | None = None, timeout: int = TIMEOUT) -> Result:
    """Run a command; ok when it exits 0. The output is the command line, stdout and stderr."""
    done = execute(cmd, cwd=cwd, timeout=timeout)
    output = f"$ {' '.join(map(str, cmd))}\n{done.stdout}{done.stderr}".rstrip()
    return Result(done.returncode == 0, output)


# --------------------------------------------------------------------------- Prometheus


def promtool_check_config(promtool: str, config: Path) -> Result:
    """`promtool check config`: the configuration and every rule file it loads."""
    return run([promtool, "check", "config", config])


def promtool_check_rules(promtool: str, rule_files: Sequence[Path]) -> Result:
    """`promtool check rules`: syntax and PromQL of every rule."""
    return run([promtool, "check", "rules", *rule_files])


def promtool_test_rules(promtool: str, test_files: Sequence[Path], cwd: Path) -> Result:
    """`promtool test rules`, run in `cwd` so the rule_files of each test resolve there."""
    return run([promtool, "test", "rules", *test_files], cwd=cwd)


def promtool_check_web_config(promtool: str, web_configs: Sequence[Path]) -> Result:
    """`promtool check web-config`: TLS key pairs load and basic-auth hashes are bcrypt."""
    return run([promtool, "check", "web-config", *web_configs])


# --------------------------------------------------------------------------- Alertmanager


def amtool_check_config(amtool: str, config: Path) -> Result:
    """`amtool check-config`: receivers, routes, inhibit rules and templates."""
    return run([amtool, "check-config", config])


def amtool_route(amtool: str, config: Path, labels: Mapping[str, str], expect: Sequence[str]) -> Result:
    """`amtool config routes test`: an alert with `labels` reaches exactly the receivers `expect`."""
    cmd: list[str | Path] = [
        amtool, "config", "routes", "test", f"--config.file={config}", f"--verify.receivers={','.join(expect)}",
    ]
    cmd += [f"{name}={value}" for name, value in sorted(labels.items())]
    return run(cmd)


def amtool_template_render(amtool: str, templates_glob: str, text: str) -> Result:
    """`amtool template render`: `text` (e.g. a receiver's title) renders with the templates
    of `templates_glob` on amtool's example alert data."""
    return run([amtool, "template", "render", f"--template.glob={templates_glob}", f"--template.text={text}"])


# --------------------------------------------------------------------------- Kubernetes


def kubernetes_validate(
    binary: str, manifests: Sequence[Path], versions: Sequence[str] = SUPPORTED_KUBERNETES
) -> Result:
    """`kubernetes-validate --strict` against every version. A resource without a schema (an
    API removed in that version, a misspelt kind) is only a warning to the tool; here it fails."""
    cmd: list[str | Path] = [binary, "--strict", "--quiet"]
    for version in versions:
        cmd += ["-k", version]
    result = run([*cmd, *manifests])
    unvalidated = [
        line
        for line in result.output.splitlines()
        if line.startswith("WARN") and not any(f"kind {kind} with api version {api}" in line for api, kind in CUSTOM_RESOURCES)
    ]
    return Result(result.ok and not unvalidated, result.output)


# Custom resources of the prerequisites (not in Kubernetes' own schemas): their manifests are
# checked structurally in tests/test_stack_kubernetes.py instead.
CUSTOM_RESOURCES = (("cert-manager.io/v1", "Certificate"),)


@dataclass(frozen=True)
class Skip:
    id: str
    reason: str
    resources: tuple[str, ...] = ()

    def covers(self, check_id: str, resource: str) -> bool:
        if check_id != self.id:
            return False
        return not self.resources or any(fnmatch.fnmatchcase(resource, pattern) for pattern in self.resources)


def load_checkov_skips(path: Path = CHECKOV_SKIPS) -> list[Skip]:
    entries = yaml.safe_load(path.read_text()) or []
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of {{id, reason}} entries")
    skips = []
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) - {"id", "reason", "resources"}:
            raise ValueError(f"{path}: {entry!r} is not an entry with id, reason and optional resources")
        skips.append(Skip(str(entry.get("id", "")), str(entry.get("reason") or ""), tuple(entry.get("resources") or ())))
    return skips


@dataclass(frozen=True)
class Finding:
    check_id: str
    name: str
    resource: str
    file: str

    def __str__(self) -> str:
        return f"{self.check_id} {self.resource} ({self.file}): {self.name}"


@dataclass(frozen=True)
class CheckovResult(Result):
    failed: tuple[Finding, ...] = ()  # after the skips
    skipped: tuple[Finding, ...] = ()  # failures a skip entry covers
    passed: int = 0
    resources: int = 0  # resources checkov recognised and checked
    parsing_errors: tuple[str, ...] = field(default_factory=tuple)


def checkov_scan(binary: str, directory: Path, skips: Sequence[Skip] = ()) -> CheckovResult:
    """checkov's Kubernetes checks over every manifest under `directory`, in one run.

    Skips are applied here, not by checkov, so an entry can be limited to some resources and
    an entry that no longer matches anything can be found."""
    cmd: list[str | Path] = [
        binary, "--directory", directory, "--framework", "kubernetes", "--output", "json", "--compact", "--quiet",
        "--skip-download",
    ]
    done = execute(cmd)  # exits 1 when a check fails: the JSON report decides
    try:
        report: Any = json.loads(done.stdout)
    except json.JSONDecodeError:
        return CheckovResult(False, f"checkov gave no JSON report (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    reports = report if isinstance(report, list) else [report]
    failed: list[Finding] = []
    skipped: list[Finding] = []
    passed = resources = 0
    errors: list[str] = []
    for part in reports:
        results = part.get("results") or {}
        summary = part.get("summary") or part
        passed += int(summary.get("passed") or 0)
        resources += int(summary.get("resource_count") or 0)
        listed = [str(e) for e in results.get("parsing_errors") or []]
        unparsed = int(summary.get("parsing_errors") or 0)
        errors += listed or ([f"{unparsed} file(s) checkov could not parse"] if unparsed else [])
        for check in results.get("failed_checks") or []:
            finding = Finding(check["check_id"], check.get("check_name", ""), check["resource"], check["file_path"])
            (skipped if any(s.covers(finding.check_id, finding.resource) for s in skips) else failed).append(finding)
    lines = [f"checkov over {directory}: {resources} resources, {passed} passed, {len(failed)} failed, {len(skipped)} skipped"]
    lines += [f"  FAILED {f}" for f in failed] + [f"  PARSE ERROR {e}" for e in errors]
    ok = not failed and not errors
    return CheckovResult(ok, "\n".join(lines), tuple(failed), tuple(skipped), passed, resources, tuple(errors))


def checkov_known_checks(binary: str) -> set[str]:
    """The ids of every Kubernetes check this checkov knows."""
    result = run([binary, "--list", "--framework", "kubernetes"])
    return set(re.findall(r"\bCKV2?_K8S_\d+\b", result.output))


def manifests_under(directory: Path) -> list[Path]:
    """Rendered manifests: <render>/manifests/**/*.yaml (multi-document YAML)."""
    return sorted(p for p in directory.glob("manifests/**/*.y*ml") if p.is_file())


def yaml_documents(paths: Iterable[Path]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in paths:
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict)]
    return docs
