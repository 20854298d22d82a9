"""The service dependency graph in prod: the CronJob that fills Jaeger's Dependencies view
from OpenSearch/Elasticsearch, under Pulumi mocks; its image per storage, its credentials
(files only), its hardening and network, the settings that refuse what it cannot do, and its
script run against stand-ins for keytool and the image's entrypoint."""

from __future__ import annotations

import datetime
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.jaeger import dependencies
from components.settings import ConfigError, Settings, configs_dir, load
from tests.conftest import ROOT, stack_run
from tools.mockrun import Run, run_program, stack_config, unwrap

NAME = "jaeger-dependencies"
SCHEMA = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
RELEASE = yaml.safe_load((configs_dir() / "versions.yaml").read_text())["images"]["jaeger_dependencies"]
SIZE = yaml.safe_load((configs_dir() / "sizing.yaml").read_text())["kubernetes"][NAME]
STORAGE_PASSWORD = "jd-storage-password-5c8e"
ELASTIC = {"jaegerStorage": "elasticsearch", "jaegerStorageUrls": ["https://es.search.example.org:9243"]}


def settings_of(overrides: dict[str, Any] | None = None) -> Settings:
    config, _ = stack_config("prod", overrides)
    return load({key.split(":", 1)[1]: value for key, value in config.items()}, "prod")


def error_of(overrides: dict[str, Any], stack: str = "prod") -> str:
    config, _ = stack_config(stack, overrides)
    with pytest.raises(ConfigError) as caught:
        load({key.split(":", 1)[1]: value for key, value in config.items()}, stack)
    return str(caught.value)


def objects(run: Run, kind: str) -> list[dict[str, Any]]:
    docs = (unwrap(r.inputs) for r in run.resources if r.custom and r.type.startswith("kubernetes:"))
    return [d for d in docs if d.get("kind") == kind]


def cron_jobs(run: Run) -> list[dict[str, Any]]:
    return [d for d in objects(run, "CronJob") if d["metadata"]["name"] == NAME]


def job(run: Run) -> dict[str, Any]:
    (found,) = cron_jobs(run)
    return found


def pod(run: Run) -> dict[str, Any]:
    spec: dict[str, Any] = job(run)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def container(run: Run) -> dict[str, Any]:
    (only,) = pod(run)["containers"]
    return dict(only)


def env(run: Run) -> dict[str, Any]:
    return {e["name"]: e for e in container(run).get("env", [])}


@pytest.fixture(scope="module")
def prod() -> Run:
    return stack_run("prod")


@pytest.fixture(scope="module")
def with_password() -> Run:
    return run_program("prod", {"jaegerStoragePassword": STORAGE_PASSWORD, "caBundleConfigMap": "corporate-ca"})


# --------------------------------------------------------------------------- the CronJob


def test_prod_runs_the_opensearch_job_of_the_pinned_release_on_its_schedule(prod: Run) -> None:
    settings = settings_of()
    assert settings.jaeger.storage == "opensearch"
    image = container(prod)["image"]
    assert image.split("@")[0] == f"{RELEASE}-opensearch"
    spec = job(prod)["spec"]
    assert spec["schedule"] == SCHEMA["jaegerDependenciesSchedule"]["default"] == settings.jaeger.dependencies_schedule
    assert spec["timeZone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 1 <= spec["successfulJobsHistoryLimit"] <= 5 and 1 <= spec["failedJobsHistoryLimit"] <= 5
    run_spec = spec["jobTemplate"]["spec"]
    assert 0 < run_spec["activeDeadlineSeconds"] <= 24 * 3600
    assert run_spec["backoffLimit"] >= 1
    assert pod(prod)["restartPolicy"] == "OnFailure"


def test_the_job_reads_the_stacks_trace_storage_with_its_index_prefix(prod: Run) -> None:
    settings = settings_of()
    variables = env(prod)
    assert variables["OS_NODES"]["value"] == ",".join(settings.jaeger.storage_urls)
    assert variables["OS_INDEX_PREFIX"]["value"] == settings.jaeger.index_prefix
    assert variables["OS_NODES_WAN_ONLY"]["value"] == "true"
    assert variables["OS_USERNAME"]["value"] == settings.jaeger.storage_username
    # The range reaches back over the whole previous day from any time of the day after.
    assert int(variables["OS_TIME_RANGE"]["value"].removesuffix("h")) >= 48
    assert not [name for name in variables if name.startswith("ES_")]


@pytest.mark.parametrize(
    ("version", "variant"),
    [("7.12", "elasticsearch7"), ("7.16.3", "elasticsearch7"), ("7.17", "elasticsearch8"),
     ("8.15.1", "elasticsearch8"), ("9", "elasticsearch9"), ("9.1.3", "elasticsearch9")],
)
def test_elasticsearch_gets_the_image_of_its_version(version: str, variant: str) -> None:
    run = run_program("prod", {**ELASTIC, "jaegerStorageVersion": version})
    assert container(run)["image"].split("@")[0] == f"{RELEASE}-{variant}"
    variables = env(run)
    assert variables["ES_NODES"]["value"] == ELASTIC["jaegerStorageUrls"][0]
    assert "ES_INDEX_PREFIX" in variables and not [name for name in variables if name.startswith("OS_")]


def test_the_password_is_a_file_of_jaegers_secret_and_never_in_the_spec(with_password: Run) -> None:
    variables = env(with_password)
    assert not [e for e in variables.values() if "valueFrom" in e], "no secret in the environment spec"
    password_file = variables["PASSWORD_FILE"]["value"]
    directory, _, file = password_file.rpartition("/")
    mounts = {m["mountPath"]: m["name"] for m in container(with_password)["volumeMounts"]}
    volume = next(v for v in pod(with_password)["volumes"] if v["name"] == mounts[directory])
    secret = next(s for s in objects(with_password, "Secret") if s["metadata"]["name"] == volume["secret"]["secretName"])
    collector = next(d for d in objects(with_password, "Deployment") if d["metadata"]["name"] == "jaeger-collector")
    assert secret["metadata"]["name"] in {v.get("secret", {}).get("secretName") for v in collector["spec"]["template"]["spec"]["volumes"]}
    assert secret["stringData"][file] == STORAGE_PASSWORD
    assert STORAGE_PASSWORD not in yaml.safe_dump(job(with_password))
    assert 'OS_PASSWORD="$(cat "$PASSWORD_FILE")"' in container(with_password)["command"][-1]


def test_without_credentials_the_job_sends_none() -> None:
    run = run_program("prod", {"jaegerStorageUsername": None, "jaegerStoragePassword": None})
    variables = env(run)
    assert "OS_USERNAME" not in variables and "PASSWORD_FILE" not in variables
    assert not [m for m in container(run)["volumeMounts"] if "secret" in m["mountPath"]]


def test_a_private_ca_becomes_the_jobs_trust_store(prod: Run, with_password: Run) -> None:
    assert "CA_FILE" not in env(prod)
    ca_file = env(with_password)["CA_FILE"]["value"]
    mounts = {m["mountPath"]: m["name"] for m in container(with_password)["volumeMounts"]}
    volume = next(v for v in pod(with_password)["volumes"] if v["name"] == mounts[ca_file.rpartition("/")[0]])
    assert volume["configMap"]["name"] == "corporate-ca"


def test_the_job_is_hardened_and_sized_from_sizing_yaml(prod: Run) -> None:
    spec = pod(prod)
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    ctx = container(prod)["securityContext"]
    assert ctx["runAsUser"] == dependencies.RUN_AS_USER != 0
    assert ctx["allowPrivilegeEscalation"] is False and ctx["readOnlyRootFilesystem"] is True
    assert ctx["capabilities"] == {"drop": ["ALL"]} and ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    resources = container(prod)["resources"]
    assert resources == {
        "requests": {"cpu": SIZE["cpu"], "memory": SIZE["memory"]},
        "limits": {"cpu": SIZE["cpu_limit"], "memory": SIZE["memory_limit"]},
    }
    # Spark's scratch and the trust store: the one writable place, bounded.
    mounts = {m["mountPath"]: m["name"] for m in container(prod)["volumeMounts"]}
    scratch = next(v for v in spec["volumes"] if v["name"] == mounts[dependencies.SCRATCH])
    assert scratch["emptyDir"]["sizeLimit"]


def test_only_the_trace_storage_and_dns_are_reachable_and_nothing_reaches_the_job(prod: Run) -> None:
    settings = settings_of()
    assert settings.kubernetes is not None
    (policy,) = [p for p in objects(prod, "NetworkPolicy") if p["metadata"]["name"] == f"allow-{NAME}"]
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == NAME
    assert policy["spec"]["ingress"] == []
    dns, *rest = policy["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    (storage,) = rest
    assert {p["ipBlock"]["cidr"] for p in storage["to"]} == set(settings.kubernetes.external_cidrs)
    assert {p["port"] for p in storage["ports"]} == {9200}
    labels = job(prod)["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == NAME


def test_switched_off_there_is_no_job_and_no_policy() -> None:
    run = run_program("prod", {"jaegerDependencies": False})
    assert cron_jobs(run) == []
    assert not [p for p in objects(run, "NetworkPolicy") if p["metadata"]["name"] == f"allow-{NAME}"]
    # Off, the storage version matters to nothing.
    assert settings_of({**ELASTIC, "jaegerDependencies": False}).jaeger.dependencies_variant == ""


def test_dev_has_no_dependencies_job(dev_run: Run) -> None:
    assert not [r for r in dev_run.resources if NAME in r.name]
    assert "jaegerDependencies" in error_of({"jaegerDependencies": True}, "dev")


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        (ELASTIC, ["jaegerStorageVersion", "required", "elasticsearch", "7.12-7.16", "jaegerDependencies to false"]),
        ({**ELASTIC, "jaegerStorageVersion": "6.8"}, ["jaegerStorageVersion", "'6.8'", "8.x or 9.x"]),
        ({**ELASTIC, "jaegerStorageVersion": "7.10"}, ["jaegerStorageVersion", "'7.10'", "7.12-7.16"]),
        ({**ELASTIC, "jaegerStorageVersion": "7"}, ["jaegerStorageVersion", "'7'"]),
        ({"jaegerStorageVersion": "1.3"}, ["jaegerStorageVersion", "'1.3'", "OpenSearch 2.x or 3.x"]),
        ({"jaegerStorageVersion": "latest"}, ["jaegerStorageVersion", "'latest'"]),
        ({"jaegerDependenciesSchedule": "hourly"}, ["jaegerDependenciesSchedule", "'hourly'", "cron"]),
    ],
)
def test_what_the_job_cannot_do_is_refused_with_the_key_and_what_is_allowed(
    overrides: dict[str, Any], fragments: list[str]
) -> None:
    message = error_of(overrides)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} missing from:\n{message}"


def test_opensearch_2_and_3_are_accepted() -> None:
    for version in ("2.19", "3.1.0"):
        assert settings_of({"jaegerStorageVersion": version}).jaeger.dependencies_variant == "opensearch"


# --------------------------------------------------------------------------- the script


def test_the_script_builds_the_environment_and_runs_the_previous_utc_day(tmp_path: Path) -> None:
    """The container's command, with keytool and the image's entrypoint as stand-ins that
    record what they were given."""
    scratch, bin_dir = tmp_path / "scratch", tmp_path / "bin"
    scratch.mkdir()
    bin_dir.mkdir()
    log = tmp_path / "log"
    for tool in ("keytool", "entrypoint"):
        stub = bin_dir / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $* OS_PASSWORD=${{OS_PASSWORD:-}} JAVA_OPTS=$JAVA_OPTS" >> {log}\n')
        stub.chmod(0o755)
    cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    bundle = tmp_path / "ca.crt"
    bundle.write_text(cert + cert)
    password = tmp_path / "storage_password"
    password.write_text("pw-in-a-file")
    settings = settings_of()
    script = (
        dependencies.script(settings)
        .replace(dependencies.SCRATCH, str(scratch))
        .replace(dependencies.ENTRYPOINT, str(bin_dir / "entrypoint"))
    )
    environment = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "JAVA_OPTS": "-XX:MaxRAMPercentage=75",
        "PASSWORD_FILE": str(password),
        "CA_FILE": str(bundle),
    }
    days = {(datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)).date().isoformat()}
    subprocess.run(["/bin/sh", "-c", script], env=environment, check=True, timeout=30)
    days.add((datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)).date().isoformat())
    lines = log.read_text().splitlines()
    keytool = [line for line in lines if line.startswith("keytool ")]
    assert len(keytool) == 2, lines  # one import per certificate of the bundle
    assert all("-importcert" in line and f"{scratch}/truststore.p12" in line for line in keytool)
    (entry,) = [line for line in lines if line.startswith("entrypoint ")]
    assert entry.split()[1] in days  # the previous UTC day (either side of a midnight during the run)
    assert "OS_PASSWORD=pw-in-a-file" in entry
    assert f"-Djavax.net.ssl.trustStore={scratch}/truststore.p12" in entry and "-XX:MaxRAMPercentage=75" in entry
