"""The demo Vega in the dev stack (stack setting `demo`): two containers under the names the
default scrape jobs use, running the repository's demo/ program on a pinned Python image, never
next to a real Vega; and that program, as uploaded, runs on the standard library alone and
serves what the scrape jobs expect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pulumi
import pytest
import yaml

from components.demo import HOME, MODULES, PORT, SOURCE
from components.settings import check_image
from tests.support.harness import free_port, live_stack
from tests.test_live import dashboard_queries, wait_for_data
from tests.test_stack_docker import containers, uploads
from tools.mockrun import Run, run_program, unwrap

DEMO = ("vega-api", "vega-coordinator")


def _aliases(container: object) -> set[str]:
    return {a for n in unwrap(container.inputs["networksAdvanced"]) for a in n.get("aliases", [])}  # type: ignore[attr-defined]


def test_the_dev_stack_runs_the_demo_by_default(dev_run: Run) -> None:
    running = containers(dev_run)
    for target, host_port in zip(DEMO, (8000, 8001), strict=True):
        c = running[target]
        assert c.inputs["name"] == f"vega-observability-{target}"
        assert _aliases(c) == {target}, "the default scrape jobs find it by this name"
        assert c.inputs["entrypoints"] == ["python", "-m", "demo"]
        assert c.inputs["command"][:2] == ["--target", target]
        assert "--otlp" in c.inputs["command"] and "http://jaeger:4318" in c.inputs["command"]
        assert c.inputs["user"] == "65534:65534", "the demo runs as nobody"
        assert [(p["internal"], p["external"], p["ip"]) for p in c.inputs["ports"]] == [(PORT, host_port, "127.0.0.1")]
        files = uploads(c)
        assert {f"{HOME}/demo/{m}" for m in MODULES} == set(files)
        for module in MODULES:
            assert files[f"{HOME}/demo/{module}"] == (SOURCE / module).read_text()
    images = {i.inputs["name"] for i in dev_run.of_type("docker:index/remoteImage:RemoteImage")}
    demo_image = running["vega-api"].inputs["image"]
    assert demo_image.startswith("sha256:")
    python = [ref for ref in images if ref.startswith("python:")]
    assert len(python) == 1 and check_image(python[0]) == python[0]


def test_the_demo_is_what_prometheus_scrapes(rendered: object) -> None:
    out = rendered("dev")  # type: ignore[operator]
    config = yaml.safe_load((out / "config" / "prometheus" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: [t for sc in job.get("static_configs", []) for t in sc["targets"]]
        for job in config["scrape_configs"]
    }
    for target in DEMO:
        assert targets[target] == [f"{target}:{PORT}"]


def test_the_demo_can_be_switched_off() -> None:
    run = run_program("dev", {"demo": False})
    assert not set(DEMO) & set(containers(run))
    assert not [
        i for i in run.of_type("docker:index/remoteImage:RemoteImage") if i.inputs["name"].startswith("python:")
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"dockerExternalNetworks": ["vega_default"]}, "demo: true next to dockerExternalNetworks"),
        ({"vegaApiTargets": ["host.docker.internal:8000"]}, "demo: true next to vegaApiTargets"),
        ({"vegaCoordinatorTargets": ["10.0.0.5:8000"]}, "demo: true next to vegaCoordinatorTargets"),
        ({"demoApiPort": 3000}, "demoApiPort, grafanaPort: all set to host port 3000"),
    ],
)
def test_the_demo_never_runs_next_to_a_real_vega(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(pulumi.RunError) as error:
        run_program("dev", overrides)
    assert message in str(error.value)
    if "next to" in message:
        assert "set demo to false" in str(error.value)


def test_the_uploaded_demo_runs_on_the_standard_library_alone(dev_run: Run, tmp_path: Path) -> None:
    """The files the container receives, run by a bare interpreter (no site packages, no
    project on the path): /metrics serves the seed's API metrics with exemplars, a named
    scenario changes them, and the JSON log lines reach stdout."""
    for path, text in uploads(containers(dev_run)["vega-api"]).items():
        local = tmp_path / path.removeprefix(f"{HOME}/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(text)
    port = free_port()
    log = tmp_path / "demo.log"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path)}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-S", "-m", "demo", "--target", "vega-api", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        body = ""
        while time.monotonic() < deadline and not body:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/metrics", headers={"Accept": "application/openmetrics-text"}
                )
                with urllib.request.urlopen(request, timeout=2) as response:
                    body = response.read().decode()
            except OSError:
                time.sleep(0.2)
        assert "http_requests_total" in body and "http_request_duration_seconds_bucket" in body
        assert '# {trace_id="' in body, "exemplars carry trace ids"
        request = urllib.request.Request(f"http://127.0.0.1:{port}/scenario/error-storm", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=2) as response:
            assert json.load(response)["storm_errors_per_second"] > 0
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0, log.read_text()
    first = json.loads(log.read_text().splitlines()[0])
    assert first["module"] == "vega.demo"


@pytest.mark.live
@pytest.mark.timeout(300)
def test_every_dashboard_query_has_data_from_the_demo_program(tool: Callable[[str], str], tmp_path: Path) -> None:
    """The rendered dev stack's Prometheus scraping the demo program itself for vega-api and
    vega-coordinator (two processes, as the dev stack runs them; the host, container and
    database targets stay the harness' stand-ins): every dashboard query returns data."""
    with live_stack(tmp_path, tool("prometheus"), tool("prometheus-alertmanager"), demo_programs=DEMO) as stack:
        stack.wait_targets_up(stack.prometheus[0])
        queries = dashboard_queries(stack, alerts=False)
        empty = wait_for_data(stack, queries, timeout=150)
        demo_log = (tmp_path / "demo-vega-api.log").read_text()
    print(f"{len(queries) - len(empty)} of {len(queries)} dashboard queries with data from the demo program")
    assert queries and not empty, "dashboard queries without data:\n" + "\n".join(sorted(empty))
    assert '"module": "vega.demo"' in demo_log, "the demo program served the API"
