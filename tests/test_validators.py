"""Real upstream validators on every committed stack's render, beyond tests/test_render.py:
alert routes, web configs, Kubernetes manifests (schemas and security scan), and proof that
each checker turns red on a broken artifact."""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from components.settings import configs_dir
from tests import checkers
from tests.checkers import SUPPORTED_KUBERNETES, Result
from tests.conftest import IN_CI, KUBERNETES_STACKS, MISSING_TOOL, ROOT, STACKS
from tests.support import upstream
from tools.mockrun import MARKER
from tools.render import render

# Every alert channel configured, so every receiver has its integrations.
CHANNELS = {
    "alertmanagerWebhookUrl": "http://127.0.0.1:9/hook",
    "alertmanagerSlackApiUrl": "https://hooks.slack.com/services/T0/B0/X",
    "alertmanagerEmailTo": "oncall@example.org",
    "alertmanagerEmailFrom": "am@example.org",
    "alertmanagerSmtpSmarthost": "smtp.example.org:587",
}
# severity label -> the receiver the alert must reach (no severity: treated as a warning)
ROUTES = {"critical": "vega-critical", "warning": "vega-warning", "info": "vega-info", None: "vega-warning"}
CHANNEL_KEYS = {"webhook": "webhook_configs", "slack": "slack_configs", "email": "email_configs"}


def need_file(path: Path, what: str) -> str:
    """A binary outside PATH, with the policy of the `tool` fixture: fail in CI, skip locally."""
    if path.is_file():
        return str(path)
    message = f"{what} is not installed ({path})"
    if IN_CI:
        pytest.fail(f"CI must have every tool: {message}")
    pytest.skip(f"{MISSING_TOOL}: {message}")


@pytest.fixture(scope="session")
def kubernetes_validate_bin() -> str:
    return need_file(checkers.KUBERNETES_VALIDATE, "kubernetes-validate (requirements-dev.txt)")


@pytest.fixture(scope="session")
def checkov_bin() -> str:
    return need_file(checkers.CHECKOV, "checkov (`make checkov-venv`)")


@pytest.fixture(scope="session")
def channel_render(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The render of a committed stack with every alert channel configured."""
    cache: dict[str, Path] = {}

    def get(stack: str) -> Path:
        if stack not in cache:
            out = tmp_path_factory.mktemp(f"channels-{stack}")
            render(stack, out, CHANNELS)
            cache[stack] = out
        return cache[stack]

    return get


def alertmanager_yml(out: Path) -> Path:
    path = out / "config" / "alertmanager" / "alertmanager.yml"
    if not path.is_file():
        pytest.skip(f"no alertmanager.yml in {out.name} (alertmanagerEnabled is false)")
    return path


def assert_ok(result: Result) -> None:
    assert result.ok, result.output


def assert_fails(result: Result, *expected: str) -> None:
    assert not result.ok, f"the checker accepted a broken artifact:\n{result.output}"
    for text in expected:
        assert text in result.output, f"{text!r} not in:\n{result.output}"


# =========================================================================== (a) alert routing


@pytest.mark.tool
@pytest.mark.parametrize("stack", STACKS)
def test_amtool_accepts_the_channel_complete_config(
    tool: Callable[[str], str], channel_render: Callable[[str], Path], stack: str
) -> None:
    result = checkers.amtool_check_config(tool("amtool"), alertmanager_yml(channel_render(stack)))
    assert_ok(result)
    assert "3 receivers" in result.output


@pytest.mark.tool
@pytest.mark.parametrize("severity", list(ROUTES), ids=lambda s: s or "no-severity")
@pytest.mark.parametrize("channels", [False, True], ids=["default", "channels"])
@pytest.mark.parametrize("stack", STACKS)
def test_every_severity_reaches_its_receiver(
    tool: Callable[[str], str],
    rendered: Callable[[str], Path],
    channel_render: Callable[[str], Path],
    stack: str,
    channels: bool,
    severity: str | None,
) -> None:
    config = alertmanager_yml(channel_render(stack) if channels else rendered(stack))
    labels = {"alertname": "VegaRouteProbe", "job": "vega-api"}
    if severity:
        labels["severity"] = severity
    assert_ok(checkers.amtool_route(tool("amtool"), config, labels, [ROUTES[severity]]))


@pytest.mark.parametrize("stack", STACKS)
def test_each_receiver_carries_the_channels_routing_yaml_lists(channel_render: Callable[[str], Path], stack: str) -> None:
    routing = yaml.safe_load((configs_dir() / "alertmanager" / "routing.yaml").read_text())
    receivers = {r["name"]: r for r in yaml.safe_load(alertmanager_yml(channel_render(stack)).read_text())["receivers"]}
    for severity, body in routing["severities"].items():
        receiver = receivers[ROUTES[severity]]
        have = {key for key in receiver if key.endswith("_configs")}
        want = {CHANNEL_KEYS[channel] for channel in body["channels"]}
        assert have == want, f"{receiver['name']}: integrations {sorted(have)}, routing.yaml asks for {sorted(want)}"


def local_templates(config: Path, work: Path) -> Path:
    """A copy of a rendered alertmanager.yml whose `templates` point at the rendered template
    files, so amtool parses them (the container paths do not exist here)."""
    doc = yaml.safe_load(config.read_text())
    doc["templates"] = [str(config.parent / "templates" / "*.tmpl")]
    return write_yaml(work / "alertmanager.yml", doc)


@pytest.mark.tool
@pytest.mark.parametrize("stack", STACKS)
def test_amtool_parses_the_rendered_templates(
    tool: Callable[[str], str], channel_render: Callable[[str], Path], stack: str, tmp_path: Path
) -> None:
    config = alertmanager_yml(channel_render(stack))
    assert sorted((config.parent / "templates").glob("*.tmpl")), "no template rendered"
    assert_ok(checkers.amtool_check_config(tool("amtool"), local_templates(config, tmp_path)))


@pytest.mark.tool
@pytest.mark.parametrize("stack", STACKS)
def test_every_template_a_receiver_uses_renders(
    tool: Callable[[str], str], channel_render: Callable[[str], Path], stack: str
) -> None:
    config = alertmanager_yml(channel_render(stack))
    text = config.read_text()
    used = sorted(set(re.findall(r'\{\{-?\s*template\s+"([^"]+)"', text)))
    assert used, "no receiver uses the shared templates"
    templates = str(config.parent / "templates" / "*.tmpl")
    for name in used:
        result = checkers.amtool_template_render(tool("amtool"), templates, f'{{{{ template "{name}" . }}}}')
        assert_ok(result)


# ---- inhibition: amtool (0.33 too) has no inhibition test, so the rules are evaluated here with
# Alertmanager's semantics (every source matcher, every target matcher, equal labels equal).

_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|(\S*))\s*$')


def matcher(text: str) -> Callable[[Mapping[str, str]], bool]:
    match = _MATCHER.match(text)
    assert match, f"cannot read matcher {text!r}"
    name, op, quoted, bare = match.groups()
    value = quoted if quoted is not None else bare

    def test(labels: Mapping[str, str]) -> bool:
        have = labels.get(name, "")
        if op in ("=", "!="):
            return (have == value) == (op == "=")
        return bool(re.fullmatch(value, have)) == (op == "=~")

    return test


def inhibits(rule: Mapping[str, Any], source: Mapping[str, str], target: Mapping[str, str]) -> bool:
    return (
        all(matcher(m)(source) for m in rule.get("source_matchers") or [])
        and all(matcher(m)(target) for m in rule.get("target_matchers") or [])
        and all(source.get(label, "") == target.get(label, "") for label in rule.get("equal") or [])
    )


@pytest.mark.parametrize("stack", STACKS)
def test_inhibit_rules_mute_only_what_routing_yaml_asks(channel_render: Callable[[str], Path], stack: str) -> None:
    routing = yaml.safe_load((configs_dir() / "alertmanager" / "routing.yaml").read_text())
    rules = yaml.safe_load(alertmanager_yml(channel_render(stack)).read_text()).get("inhibit_rules") or []
    intents = routing.get("inhibit") or []
    assert len(rules) == len(intents), f"{len(rules)} inhibit rules rendered for {len(intents)} in routing.yaml"
    for intent in intents:
        src, dst, equal = intent["source_severity"], intent["target_severity"], intent["equal"]
        base = {label: f"{label}-1" for label in equal} | {"instance": "a:1"}
        source = base | {"severity": src}
        target = base | {"severity": dst, "instance": "b:2"}

        def muted(s: Mapping[str, str], t: Mapping[str, str]) -> bool:
            return any(inhibits(rule, s, t) for rule in rules)

        assert muted(source, target), f"a {src} alert does not mute the {dst} alert with the same {equal}"
        for label in equal:
            assert not muted(source, target | {label: "other"}), f"{src} mutes {dst} although {label} differs"
        assert not muted(source, target | {"severity": src}), f"a {src} alert mutes another {src} alert"
        assert not muted(target, source), f"a {dst} alert mutes a {src} alert"


# =========================================================================== (b) web configs


@pytest.fixture(scope="session")
def tls_pair(tool: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate and key (openssl)."""
    work = tmp_path_factory.mktemp("tls")
    cert, key = work / "tls.crt", work / "tls.key"
    result = checkers.run([
        tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
    ])
    assert_ok(result)
    return cert, key


def bcrypt_hash(password: str = "web-config-test") -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def web_config(cert: Path, key: Path, users: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "tls_server_config": {"cert_file": str(cert), "key_file": str(key), "min_version": "TLS12"},
        "basic_auth_users": dict(users or {"prometheus": bcrypt_hash()}),
    }


def write_yaml(path: Path, docs: Any, *, multi: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False) if multi else yaml.safe_dump(docs, sort_keys=False))
    return path


def stand_in(web_config_file: Path, work: Path, cert: Path, key: Path) -> Path:
    """A copy of a rendered web config that promtool can load on this machine: certificate
    files that only exist in the container become the throwaway pair, and masked secret
    hashes a generated bcrypt hash. Every key and every other value stays as rendered."""
    doc = yaml.safe_load(web_config_file.read_text()) or {}
    tls = doc.get("tls_server_config")
    if isinstance(tls, dict):
        for name, stand in (("cert_file", cert), ("key_file", key), ("client_ca_file", cert)):
            value = tls.get(name)
            if isinstance(value, str) and value:
                local = web_config_file.parent / value
                tls[name] = str(local) if local.is_file() else str(stand)
    users = doc.get("basic_auth_users")
    if isinstance(users, dict):
        for user, hashed in users.items():
            if hashed == MARKER:
                users[user] = bcrypt_hash()
    return write_yaml(work / web_config_file.parent.name / web_config_file.name, doc)


def rendered_web_configs(out: Path) -> list[Path]:
    return sorted(p for p in (out / "config").glob("**/web-config.yml") if "secrets" not in p.parts)


@pytest.mark.tool
@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_promtool_accepts_every_rendered_web_config(
    tool: Callable[[str], str], rendered: Callable[[str], Path], tls_pair: tuple[Path, Path], stack: str, tmp_path: Path
) -> None:
    files = rendered_web_configs(rendered(stack))
    assert files, f"stack {stack} renders no web-config.yml"
    promtool = tool("promtool")
    for path in files:
        assert_ok(checkers.promtool_check_web_config(promtool, [stand_in(path, tmp_path, *tls_pair)]))


@pytest.mark.tool
def test_promtool_accepts_a_web_config_with_tls_and_a_bcrypt_user(
    tool: Callable[[str], str], tls_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    path = write_yaml(tmp_path / "web-config.yml", web_config(*tls_pair))
    result = checkers.promtool_check_web_config(tool("promtool"), [path])
    assert_ok(result)
    assert "SUCCESS" in result.output


# =========================================================================== (c) manifests


def restricted_workload(image: str = "prom/prometheus:v3.13.3@sha256:" + "0" * 64) -> list[dict[str, Any]]:
    """A small workload as the stack should render it: non-root, read-only, no capabilities,
    bounded resources, probed, its own service account, reachable only as its policy allows."""
    name, namespace = "demo", "vega-observability"
    labels = {"app.kubernetes.io/name": name}
    meta = {"name": name, "namespace": namespace, "labels": labels}
    container = {
        "name": name,
        "image": image,
        "imagePullPolicy": "Always",
        "args": ["--config.file=/etc/prometheus/prometheus.yml"],
        "ports": [{"name": "http", "containerPort": 9090, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "livenessProbe": {"httpGet": {"path": "/-/healthy", "port": "http"}},
        "readinessProbe": {"httpGet": {"path": "/-/ready", "port": "http"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "data", "mountPath": "/prometheus"}],
    }
    pod = {
        "serviceAccountName": name,
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "runAsGroup": 65534,
            "fsGroup": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}],
    }
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta, "automountServiceAccountToken": False},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": pod},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"selector": labels, "ports": [{"name": "http", "port": 9090, "targetPort": "http"}]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta,
            "spec": {
                "podSelector": {"matchLabels": labels},
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"port": 9090, "protocol": "TCP"}]}],
            },
        },
    ]


def container_of(docs: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    return deployment["spec"]["template"]["spec"]["containers"][0]


def broken_type(docs: list[dict[str, Any]]) -> None:
    container_of(docs)["ports"][0]["containerPort"] = "ninety-ninety"


def broken_field(docs: list[dict[str, Any]]) -> None:
    container_of(docs)["resource"] = container_of(docs).pop("resources")


def removed_api(docs: list[dict[str, Any]]) -> None:
    docs.append(
        {
            "apiVersion": "policy/v1beta1",  # removed in Kubernetes 1.25
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "demo", "namespace": "vega-observability"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "demo"}}},
        }
    )


def privileged_unbounded(docs: list[dict[str, Any]]) -> None:
    container = container_of(docs)
    container["securityContext"] = {"privileged": True}
    del container["resources"]


SCHEMA_BREAKS = {
    "wrong-field-type": (broken_type, "is not of type 'integer'"),
    "unknown-field": (broken_field, "'resource' was unexpected"),
    "removed-api": (removed_api, "policy/v1beta1"),
}


@pytest.fixture(scope="session")
def manifest_samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """good.yaml (the restricted workload) and one file per way to break it."""
    work = tmp_path_factory.mktemp("manifests")
    write_yaml(work / "good.yaml", restricted_workload(), multi=True)
    for name, (mutate, _) in {**SCHEMA_BREAKS, "privileged": (privileged_unbounded, "")}.items():
        docs = copy.deepcopy(restricted_workload())
        mutate(docs)
        write_yaml(work / f"{name}.yaml", docs, multi=True)
    return work


@pytest.fixture(scope="session")
def sample_scan(checkov_bin: str, manifest_samples: Path) -> checkers.CheckovResult:
    """One checkov run over every sample manifest (checkov is slow to start)."""
    return checkers.checkov_scan(checkov_bin, manifest_samples, checkers.load_checkov_skips())


def findings_in(scan: checkers.CheckovResult, file_name: str) -> set[str]:
    return {f.check_id for f in scan.failed if Path(f.file).name == file_name}


def test_supported_kubernetes_versions_are_bundled_schemas() -> None:
    from kubernetes_validate import utils

    bundled = utils.all_versions()
    assert set(SUPPORTED_KUBERNETES) <= set(bundled), f"{SUPPORTED_KUBERNETES} not all in {bundled}"
    newest = bundled[-1]
    assert SUPPORTED_KUBERNETES[-1] == newest, f"newest bundled schema is {newest}"
    minor = [int(v.split(".")[1]) for v in SUPPORTED_KUBERNETES]
    assert minor[-1] - minor[0] == 2, "upstream maintains the three newest minors: oldest = newest - 2"


@pytest.mark.tool
def test_kubernetes_validate_accepts_the_restricted_workload(kubernetes_validate_bin: str, manifest_samples: Path) -> None:
    result = checkers.kubernetes_validate(kubernetes_validate_bin, [manifest_samples / "good.yaml"])
    assert_ok(result)


@pytest.mark.tool
def test_checkov_passes_the_restricted_workload(sample_scan: checkers.CheckovResult) -> None:
    assert not sample_scan.parsing_errors, sample_scan.output
    assert not findings_in(sample_scan, "good.yaml"), sample_scan.output
    assert sample_scan.passed > 50, f"checkov ran too few checks:\n{sample_scan.output}"
    assert sample_scan.resources >= 4 * len(SCHEMA_BREAKS), sample_scan.output


def stack_manifests(out: Path, stack: str) -> list[Path]:
    files = checkers.manifests_under(out)
    assert files, f"stack {stack} renders no manifests"
    return files


@pytest.mark.tool
@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_kubernetes_validate_accepts_every_rendered_manifest(
    kubernetes_validate_bin: str, rendered: Callable[[str], Path], stack: str
) -> None:
    assert_ok(checkers.kubernetes_validate(kubernetes_validate_bin, stack_manifests(rendered(stack), stack)))


@pytest.fixture(scope="session")
def stack_scans(checkov_bin: str, rendered: Callable[[str], Path]) -> Callable[[str], checkers.CheckovResult]:
    """checkov once per committed stack's manifests directory."""
    cache: dict[str, checkers.CheckovResult] = {}

    def get(stack: str) -> checkers.CheckovResult:
        if stack not in cache:
            out = rendered(stack)
            stack_manifests(out, stack)
            cache[stack] = checkers.checkov_scan(checkov_bin, out / "manifests", checkers.load_checkov_skips())
        return cache[stack]

    return get


@pytest.mark.tool
@pytest.mark.parametrize("stack", KUBERNETES_STACKS)
def test_checkov_passes_every_rendered_manifest(
    rendered: Callable[[str], Path], stack_scans: Callable[[str], checkers.CheckovResult], stack: str
) -> None:
    scan = stack_scans(stack)
    assert_ok(scan)
    # checkov passes over a file it cannot parse in silence: every document must load
    assert checkers.yaml_documents(checkers.manifests_under(rendered(stack)))
    assert scan.resources > 0, f"checkov recognised no resource:\n{scan.output}"


def test_every_checkov_skip_has_an_id_and_a_one_line_reason() -> None:
    skips = checkers.load_checkov_skips()
    ids = [s.id for s in skips]
    assert len(ids) == len(set(ids)), f"duplicate entries: {ids}"
    for skip in skips:
        assert re.fullmatch(r"CKV2?_K8S_\d+", skip.id), f"{skip.id!r} is not a checkov Kubernetes check id"
        reason = skip.reason.strip()
        assert reason and "\n" not in reason and len(reason) >= 20, f"{skip.id}: needs a one-line reason"


@pytest.mark.tool
def test_every_checkov_skip_names_a_check_checkov_has(checkov_bin: str) -> None:
    known = checkers.checkov_known_checks(checkov_bin)
    assert len(known) > 50, "checkov listed too few Kubernetes checks"
    unknown = [s.id for s in checkers.load_checkov_skips() if s.id not in known]
    assert not unknown, f"checkov {checkers.CHECKOV.parent.parent.name} has no check {unknown}"


@pytest.mark.tool
def test_every_checkov_skip_is_still_needed(
    rendered: Callable[[str], Path], stack_scans: Callable[[str], checkers.CheckovResult]
) -> None:
    with_manifests = [s for s in KUBERNETES_STACKS if checkers.manifests_under(rendered(s))]
    assert with_manifests, "no committed stack renders manifests"
    used = {(f.check_id, f.resource) for s in with_manifests for f in stack_scans(s).skipped}
    stale = [s.id for s in checkers.load_checkov_skips() if not any(s.covers(c, r) for c, r in used)]
    assert not stale, f"skips that no rendered manifest needs (remove them): {stale}"


# =========================================================================== (d) the checkers catch breakage


@pytest.fixture
def prometheus_dir(tmp_path: Path) -> Iterator[Path]:
    work = tmp_path / "prometheus"
    (work / "rules").mkdir(parents=True)
    (work / "prometheus.yml").write_text(
        "global: {scrape_interval: 15s}\nrule_files: [rules/*.yml]\n"
        "scrape_configs: [{job_name: vega-api, static_configs: [{targets: ['127.0.0.1:8000']}]}]\n"
    )
    yield work


GOOD_RULE: dict[str, Any] = {
    "groups": [
        {
            "name": "probe",
            "rules": [
                {
                    "alert": "FederatedParticipantDown",
                    "expr": "federated_participants_active < 2",
                    "for": "1m",
                    "labels": {"severity": "critical"},
                }
            ],
        }
    ]
}


@pytest.mark.tool
def test_promtool_check_rules_rejects_bad_promql(tool: Callable[[str], str], prometheus_dir: Path) -> None:
    bad = copy.deepcopy(GOOD_RULE)
    bad["groups"][0]["rules"][0]["expr"] = "sum by (job (rate(http_requests_total[5m]))"
    path = write_yaml(prometheus_dir / "rules" / "broken.yml", bad)
    assert_fails(checkers.promtool_check_rules(tool("promtool"), [path]), "broken.yml")
    good = write_yaml(prometheus_dir / "rules" / "broken.yml", GOOD_RULE)
    assert_ok(checkers.promtool_check_rules(tool("promtool"), [good]))


@pytest.mark.tool
def test_promtool_check_config_rejects_a_config_that_loads_bad_rules(tool: Callable[[str], str], prometheus_dir: Path) -> None:
    write_yaml(prometheus_dir / "rules" / "ok.yml", GOOD_RULE)
    config = prometheus_dir / "prometheus.yml"
    assert_ok(checkers.promtool_check_config(tool("promtool"), config))
    bad = copy.deepcopy(GOOD_RULE)
    bad["groups"][0]["rules"][0]["expr"] = "federated_participants_active <"
    write_yaml(prometheus_dir / "rules" / "broken.yml", bad)
    assert_fails(checkers.promtool_check_config(tool("promtool"), config), "broken.yml")


@pytest.mark.tool
@pytest.mark.parametrize(
    ("breakage", "message"),
    [({"role": "pods"}, 'unknown Kubernetes SD role "pods"'), ({"role": "pod", "namespace": "vega"}, "field namespace not found")],
)
def test_promtool_judges_kubernetes_service_discovery(
    tool: Callable[[str], str], prometheus_dir: Path, breakage: dict[str, str], message: str
) -> None:
    """The prod config is checked with its kubernetes_sd_configs as rendered: promtool knows
    the block's schema and refuses a wrong role or key."""
    config = prometheus_dir / "prometheus.yml"
    doc = yaml.safe_load(config.read_text())
    job = doc["scrape_configs"][0]
    job["kubernetes_sd_configs"] = [{"role": "endpoints", "namespaces": {"names": ["vega"]}}]
    assert_ok(checkers.promtool_check_config(tool("promtool"), write_yaml(config, doc)))
    job["kubernetes_sd_configs"] = [breakage]
    assert_fails(checkers.promtool_check_config(tool("promtool"), write_yaml(config, doc)), message)


@pytest.mark.tool
def test_promtool_test_rules_fails_when_an_alert_does_not_fire(tool: Callable[[str], str], prometheus_dir: Path) -> None:
    write_yaml(prometheus_dir / "rules" / "probe.yml", GOOD_RULE)

    def case(active: int) -> Path:
        return write_yaml(
            prometheus_dir / "probe.test.yml",
            {
                "rule_files": ["rules/probe.yml"],
                "evaluation_interval": "1m",
                "tests": [
                    {
                        "interval": "1m",
                        "input_series": [{"series": "federated_participants_active", "values": f"{active}x10"}],
                        "alert_rule_test": [
                            {
                                "eval_time": "5m",
                                "alertname": "FederatedParticipantDown",
                                "exp_alerts": [{"exp_labels": {"severity": "critical"}}],
                            }
                        ],
                    }
                ],
            },
        )

    assert_ok(checkers.promtool_test_rules(tool("promtool"), [case(active=1)], prometheus_dir))
    assert_fails(checkers.promtool_test_rules(tool("promtool"), [case(active=5)], prometheus_dir), "FederatedParticipantDown")


BROKEN_ROUTE: dict[str, Any] = {
    "route": {"receiver": "vega-warning", "routes": [{"matchers": ['severity="critical"'], "receiver": "vega-pager"}]},
    "receivers": [{"name": "vega-warning"}],
}


@pytest.mark.tool
def test_amtool_rejects_a_route_to_an_undefined_receiver(tool: Callable[[str], str], tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "alertmanager.yml", BROKEN_ROUTE)
    assert_fails(checkers.amtool_check_config(tool("amtool"), path), "vega-pager")
    fixed = copy.deepcopy(BROKEN_ROUTE)
    fixed["receivers"].append({"name": "vega-pager"})
    assert_ok(checkers.amtool_check_config(tool("amtool"), write_yaml(path, fixed)))


@pytest.mark.tool
def test_amtool_route_test_fails_when_an_alert_reaches_another_receiver(tool: Callable[[str], str], tmp_path: Path) -> None:
    config = copy.deepcopy(BROKEN_ROUTE)
    config["receivers"].append({"name": "vega-pager"})
    path = write_yaml(tmp_path / "alertmanager.yml", config)
    amtool = tool("amtool")
    assert_ok(checkers.amtool_route(amtool, path, {"severity": "critical"}, ["vega-pager"]))
    assert_fails(checkers.amtool_route(amtool, path, {"severity": "critical"}, ["vega-warning"]), "did not match")


@pytest.mark.tool
def test_amtool_rejects_a_broken_or_undefined_template(tool: Callable[[str], str], tmp_path: Path) -> None:
    amtool = tool("amtool")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "vega.tmpl").write_text('{{ define "vega.title" }}[{{ .Status | toUpper }}]{{ end }}\n')
    config = copy.deepcopy(BROKEN_ROUTE)
    config["receivers"].append({"name": "vega-pager"})
    path = local_templates(write_yaml(tmp_path / "alertmanager.yml", config), tmp_path / "work")
    assert_ok(checkers.amtool_check_config(amtool, path))
    glob = str(tmp_path / "templates" / "*.tmpl")
    assert_ok(checkers.amtool_template_render(amtool, glob, '{{ template "vega.title" . }}'))
    assert_fails(checkers.amtool_template_render(amtool, glob, '{{ template "vega.text" . }}'), "not defined")
    (tmp_path / "templates" / "vega.tmpl").write_text('{{ define "vega.title" }}{{ .Status \n')
    assert_fails(checkers.amtool_check_config(amtool, path), "vega.tmpl")


@pytest.mark.tool
@pytest.mark.parametrize(
    ("breakage", "message"),
    [("bad-bcrypt-hash", "bcrypt"), ("missing-cert-file", "no such file"), ("unknown-key", "not found")],
)
def test_promtool_rejects_a_broken_web_config(
    tool: Callable[[str], str], tls_pair: tuple[Path, Path], tmp_path: Path, breakage: str, message: str
) -> None:
    doc = web_config(*tls_pair)
    if breakage == "bad-bcrypt-hash":
        doc["basic_auth_users"]["prometheus"] = "$2y$10$not-a-bcrypt-hash"
    elif breakage == "missing-cert-file":
        doc["tls_server_config"]["cert_file"] = str(tmp_path / "absent.crt")
    else:
        doc["tls_server_config"]["certificate"] = doc["tls_server_config"].pop("cert_file")
    path = write_yaml(tmp_path / "web-config.yml", doc)
    assert_fails(checkers.promtool_check_web_config(tool("promtool"), [path]), message)


@pytest.mark.tool
def test_stand_in_keeps_what_promtool_must_judge(tool: Callable[[str], str], tls_pair: tuple[Path, Path], tmp_path: Path) -> None:
    """The stand-in only replaces container paths and masked hashes: a broken rendered key still fails."""
    rendered_dir = tmp_path / "render" / "config" / "prometheus"
    doc = {
        "tls_server_config": {"cert_file": "/etc/prometheus/tls/tls.crt", "key_file": "/etc/prometheus/tls/tls.key"},
        "basic_auth_users": {"grafana": MARKER},
    }
    good = write_yaml(rendered_dir / "web-config.yml", doc)
    assert_ok(checkers.promtool_check_web_config(tool("promtool"), [stand_in(good, tmp_path / "a", *tls_pair)]))
    doc["basic_auth_users"]["grafana"] = "plain-text-password"
    bad = write_yaml(rendered_dir / "web-config.yml", doc)
    assert_fails(checkers.promtool_check_web_config(tool("promtool"), [stand_in(bad, tmp_path / "b", *tls_pair)]), "bcrypt")


@pytest.mark.tool
@pytest.mark.parametrize("breakage", list(SCHEMA_BREAKS))
def test_kubernetes_validate_rejects_a_broken_manifest(kubernetes_validate_bin: str, manifest_samples: Path, breakage: str) -> None:
    _, message = SCHEMA_BREAKS[breakage]
    for version in SUPPORTED_KUBERNETES:
        result = checkers.kubernetes_validate(kubernetes_validate_bin, [manifest_samples / f"{breakage}.yaml"], [version])
        assert_fails(result, message)


@pytest.mark.tool
def test_checkov_flags_a_privileged_container_without_limits(sample_scan: checkers.CheckovResult) -> None:
    found = findings_in(sample_scan, "privileged.yaml")
    # privileged, privilege escalation allowed, no CPU and no memory limits / requests
    assert {"CKV_K8S_16", "CKV_K8S_11", "CKV_K8S_13"} <= found, sample_scan.output
    assert not sample_scan.ok


def test_web_config_discovery_finds_nested_files(tmp_path: Path) -> None:
    for rel in ("config/prometheus/web-config.yml", "config/alertmanager/web-config.yml", "config/x/secrets/web-config.yml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}\n")
    found = [p.relative_to(tmp_path).as_posix() for p in rendered_web_configs(tmp_path)]
    assert found == ["config/alertmanager/web-config.yml", "config/prometheus/web-config.yml"]


def test_manifest_discovery_reads_multi_document_files(tmp_path: Path) -> None:
    write_yaml(tmp_path / "manifests" / "a.yaml", restricted_workload(), multi=True)
    shutil.copy(tmp_path / "manifests" / "a.yaml", tmp_path / "manifests" / "b.yml")
    files = checkers.manifests_under(tmp_path)
    assert [p.name for p in files] == ["a.yaml", "b.yml"]
    assert [d["kind"] for d in checkers.yaml_documents(files[:1])] == ["ServiceAccount", "Deployment", "Service", "NetworkPolicy"]


# =========================================================================== (e) the upstream binaries


def fake_binary(directory: Path, name: str, version_line: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\necho '{version_line}'\n")
    path.chmod(0o755)
    return path


def test_upstream_lookup_prefers_tools_bin_and_refuses_an_old_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = fake_binary(tmp_path / "path", "promtool", "promtool, version 3.9.0 (branch: HEAD, revision: x)")
    monkeypatch.setattr(upstream, "TOOLS_BIN", tmp_path / "tools-bin")
    monkeypatch.setenv("PATH", str(on_path.parent))
    found = upstream.find("promtool")
    assert (found.path, found.version, found.problem) == (str(on_path), "3.9.0", None)
    local = fake_binary(tmp_path / "tools-bin", "promtool", "promtool, version 2.42.0+ds (branch: debian/sid, revision: y)")
    found = upstream.find("promtool")
    assert found.path == str(local) and found.version == "2.42.0+ds"
    assert found.problem and "at least 3.5.0" in found.problem and "make tools" in found.problem
    local.unlink()
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert "not found" in str(upstream.find("promtool").problem)


@pytest.mark.tool
def test_make_tools_does_nothing_when_the_tools_are_there(tool: Callable[[str], str]) -> None:
    """Run again, the install script finds the binaries and prints their versions (no download)."""
    paths = [tool(name) for name in upstream.MINIMUM]
    result = checkers.run(["bash", ROOT / "tools" / "install-upstream.sh"], cwd=ROOT, timeout=60)
    assert result.ok, result.output
    assert "already present" in result.output and "apt-get" not in result.output
    assert all(path in result.output for path in paths), result.output
