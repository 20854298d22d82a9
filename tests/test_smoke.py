"""`make smoke` (tools/smoke.py) against real Prometheus and Alertmanager processes on
127.0.0.1 and stand-ins for the HTTP APIs of Loki, Jaeger and Grafana (tests/support/standins.py):
a healthy stack passes every check; each fault is named with its fix and fails the run; the
stack's URLs and credentials come through the Pulumi CLI, and no credential is printed."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from components.endpoints import DATASOURCE_UIDS
from tests.support.harness import free_port, http_ok, wait_until
from tests.support.loopback import LoopbackServer, Process
from tests.support.standins import StandIn, StandInState
from tools import smoke
from tools.smoke import Check, Credentials

PASSWORD = "smoke-test-Password-7f3a"  # a stand-in credential: it must never appear in output
DASHBOARDS = smoke.dashboard_uids(smoke.configs_dir() / "grafana" / "dashboards")


@contextmanager
def _exporter() -> Iterator[LoopbackServer]:
    """A /metrics endpoint with one gauge: a scrape target that is up."""
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = b"# TYPE vega_smoke gauge\nvega_smoke 1\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = LoopbackServer(Handler).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def _serving(name: str, argv: list[str], workdir: Path, port: int) -> Iterator[str]:
    """Run one real process until the block ends; yields its URL once /-/ready answers."""
    process = Process(name, argv, workdir / f"{name}.log")
    process.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_ok(f"{url}/-/ready"), 30, f"{name} ready", process.log_tail)
        yield url
    finally:
        process.stop()


@contextmanager
def _prometheus(binary: str, workdir: Path, jobs: dict[str, str], rules: list[dict[str, str]]) -> Iterator[str]:
    """A real Prometheus scraping `jobs` (name -> address) every second, evaluating `rules`."""
    workdir.mkdir()
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yml"],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [address]}]} for job, address in jobs.items()
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    (workdir / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "smoke", "rules": rules}]}))
    with _serving(
        "prometheus",
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        workdir,
        port,
    ) as url:
        yield url


@contextmanager
def _alertmanager(binary: str, workdir: Path) -> Iterator[str]:
    workdir.mkdir()
    port = free_port()
    (workdir / "alertmanager.yml").write_text(
        yaml.safe_dump({"route": {"receiver": "null"}, "receivers": [{"name": "null"}]})
    )
    with _serving(
        "alertmanager",
        [
            binary,
            f"--config.file={workdir / 'alertmanager.yml'}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        workdir,
        port,
    ) as url:
        yield url


def _targets_scraped(prometheus: str, count: int) -> Callable[[], bool]:
    def check() -> bool:
        with urllib.request.urlopen(f"{prometheus}/api/v1/targets", timeout=2) as response:
            active = json.load(response)["data"]["activeTargets"]
        return len(active) == count and all(
            t.get("lastScrape", "").startswith("2") and t["health"] != "unknown" for t in active
        )

    return check


def _rules_evaluated(prometheus: str, health: str) -> Callable[[], bool]:
    """Every rule's last evaluation had `health` (an error needs the scraped data first)."""

    def check() -> bool:
        with urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=2) as response:
            groups = json.load(response)["data"]["groups"]
        return all(r.get("health") == health for g in groups for r in g["rules"])

    return check


def _grafana_state(healthy: bool) -> StandInState:
    return StandInState(
        credential=("admin", PASSWORD),
        datasources={
            uid: ("" if healthy or kind != "loki" else "Unable to connect with Loki")
            for kind, uid in DATASOURCE_UIDS.items()
        },
        dashboards=set(DASHBOARDS if healthy else DASHBOARDS[1:]),
    )


@contextmanager
def _stand_ins(loki: StandInState, jaeger: StandInState, grafana: StandInState) -> Iterator[list[str]]:
    """Loki, Jaeger and Grafana stand-ins, running; yields their --url arguments."""
    servers = {
        name: StandIn(name, state).start() for name, state in (("loki", loki), ("jaeger", jaeger), ("grafana", grafana))
    }
    try:
        yield [arg for name, server in servers.items() for arg in ("--url", f"{name}={server.url}")]
    finally:
        for server in servers.values():
            server.stop()


def _run(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str]:
    code = smoke.main(args)
    out = capsys.readouterr().out
    assert PASSWORD not in out, "a credential was printed"
    return code, out


def _row(out: str, name: str) -> str:
    rows = [line for line in out.splitlines() if line.startswith(name)]
    assert rows, f"no row {name!r} in:\n{out}"
    return rows[0]


@pytest.mark.live
def test_smoke_passes_on_a_healthy_stack(
    tool: Callable[[str], str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(DASHBOARDS) >= 2, "the dashboards of configs/grafana/dashboards are checked"
    monkeypatch.setenv("VEGA_GRAFANA_PASSWORD", PASSWORD)
    with (
        _stand_ins(
            StandInState(labels={"job": ["vega-api", "collector"]}),
            StandInState(services=["jaeger", "vega-api", "vega-coordinator"]),
            _grafana_state(healthy=True),
        ) as others,
        _exporter() as target,
        _prometheus(
            tool("prometheus"),
            tmp_path / "prom",
            {"vega-api": target.address},
            [{"record": "job:vega_smoke:sum", "expr": "sum by (job) (vega_smoke)"}],
        ) as prometheus,
        _alertmanager(tool("prometheus-alertmanager"), tmp_path / "am") as alertmanager,
    ):
        wait_until(_targets_scraped(prometheus, 1), 30, "the target scraped")
        wait_until(_rules_evaluated(prometheus, "ok"), 30, "the rules evaluated")
        code, out = _run(
            capsys, ["--url", f"prometheus={prometheus}", "--url", f"alertmanager={alertmanager}", *others]
        )
    print(out)
    assert code == 0, out
    assert "FAIL" not in out
    for name in (
        "prometheus ready",
        "prometheus targets up (1/1)",
        "prometheus rules evaluating",
        "alertmanager ready",
        "loki ready",
        "loki holds vega's logs",
        "jaeger knows vega's services",
        "grafana healthy",
        f"grafana dashboards provisioned ({len(DASHBOARDS)}/{len(DASHBOARDS)})",
    ):
        assert " ok " in _row(out, name) + " ", out
    for uid in DATASOURCE_UIDS.values():
        assert " ok " in _row(out, f"grafana datasource {uid}") + " "
    assert f"{len(DATASOURCE_UIDS) + 9} checks ok, 0 failing" in out


@pytest.mark.live
def test_smoke_names_every_fault_with_its_fix(
    tool: Callable[[str], str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = free_port()  # nothing listens here: the coordinator target is down
    monkeypatch.setenv("VEGA_GRAFANA_PASSWORD", PASSWORD)
    with (
        _stand_ins(
            StandInState(labels={"job": ["collector"]}),
            StandInState(services=["jaeger"]),
            _grafana_state(healthy=False),
        ) as others,
        _exporter() as target,
        _prometheus(
            tool("prometheus"),
            tmp_path / "prom",
            {"vega-api": target.address, "vega-coordinator": f"127.0.0.1:{closed}"},
            # Every series of the job shares its labels once * drops the name: an evaluation error.
            [{"record": "broken:vega:x", "expr": '{job="vega-api"} * 1'}],
        ) as prometheus,
    ):
        wait_until(_targets_scraped(prometheus, 2), 30, "both targets scraped")
        wait_until(_rules_evaluated(prometheus, "err"), 30, "the broken rule evaluated")
        code, out = _run(
            capsys, ["--url", f"prometheus={prometheus}", "--url", f"alertmanager=http://127.0.0.1:{closed}", *others]
        )
    print(out)
    assert code == 1
    targets = _row(out, "prometheus targets up (1/2)")
    assert "FAIL" in targets and "vega-coordinator" in targets and "connection refused" in targets
    assert "nothing listens there" in targets
    rules = _row(out, "prometheus rules evaluating")
    assert "FAIL" in rules and "broken:vega:x" in rules and "same labelset" in rules
    assert "FAIL" in _row(out, "alertmanager reachable")
    assert "FAIL" in _row(out, "loki holds vega's logs")
    assert "FAIL" in _row(out, "jaeger knows vega's services")
    assert "Unable to connect with Loki" in _row(out, f"grafana datasource {DATASOURCE_UIDS['loki']}")
    assert DASHBOARDS[0] in _row(out, f"grafana dashboards provisioned ({len(DASHBOARDS) - 1}/{len(DASHBOARDS)})")
    fixes = [line for line in out.splitlines() if line.strip().startswith("fix: ")]
    assert len(fixes) == out.count(" FAIL "), "every failure carries its fix"


def test_smoke_takes_the_stack_from_the_pulumi_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --url: the URLs come from `pulumi stack output urls --json`, the credentials from
    `pulumi config get`, for the stack asked; a service only reachable in the cluster (Loki on
    kubernetes) is asked through Grafana's datasource proxy, with Grafana's credential."""
    loki = StandIn("loki", StandInState(labels={"job": ["vega-api"]})).start()
    grafana_state = _grafana_state(healthy=True)
    grafana_state.proxies = {DATASOURCE_UIDS["loki"]: loki.url}
    grafana = StandIn("grafana", grafana_state).start()
    log = tmp_path / "pulumi.log"
    urls = {"grafana": grafana.url, "loki": "https://loki-query-frontend.vega-observability.svc:3100"}
    script = tmp_path / "bin" / "pulumi"
    script.parent.mkdir()
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        "args = sys.argv[1:]\n"
        f"if args[:3] == ['stack', 'output', 'urls']: print(json.dumps({urls!r}))\n"
        f"elif args[:3] == ['config', 'get', 'grafanaAdminPassword']: print({PASSWORD!r})\n"
        "else: sys.exit(1)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("VEGA_GRAFANA_PASSWORD", raising=False)
    try:
        code, out = _run(capsys, ["--stack", "prod"])
    finally:
        loki.stop()
        grafana.stop()
    calls = log.read_text().splitlines()
    assert "stack output urls --json --stack prod" in calls
    assert "config get grafanaAdminPassword --stack prod" in calls
    assert code == 0, out
    assert " ok " in _row(out, "loki holds vega's logs") + " "
    assert any(p.startswith(f"/api/datasources/proxy/uid/{DATASOURCE_UIDS['loki']}/") for p in grafana_state.requests)


def test_smoke_refuses_a_malformed_url_argument(capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main(["--url", "promethus=http://127.0.0.1:9090"]) == 2
    assert "SERVICE one of prometheus" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (
            'Get "http://vega-api:8000/metrics": dial tcp: lookup vega-api on 127.0.0.11:53: no such host',
            "does not resolve",
        ),
        ('Get "http://127.0.0.1:1/metrics": dial tcp 127.0.0.1:1: connect: connection refused', "nothing listens"),
        ('Get "http://x/metrics": context deadline exceeded', "NetworkPolicy"),
        ("server returned HTTP status 401 Unauthorized", "credentials"),
        ("sample limit exceeded", "limits.yaml"),
        ("tls: failed to verify certificate: x509: certificate signed by unknown authority", "TLS"),
        ("server returned HTTP status 404 Not Found", "metrics_path"),
        ("something new", "see the error"),
    ],
)
def test_likely_cause_of_a_scrape_error(error: str, cause: str) -> None:
    assert cause in smoke.likely_cause(error)


def test_credentials_never_show_in_their_repr_and_table_shows_fixes_only_for_failures() -> None:
    assert PASSWORD not in repr(Credentials("admin", PASSWORD))
    text = smoke.table([Check("a", True, "fine", "never shown"), Check("b", False, "broken", "do this")])
    assert "never shown" not in text and "fix: do this" in text


def test_make_smoke_asks_the_state_make_up_uses(tmp_path: Path) -> None:
    """`make smoke` runs against the local state and passphrase `make up` set up, and stops with
    a readable message when the stack has no outputs yet."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text(
        '#!/bin/sh\necho "pulumi $* backend=$PULUMI_BACKEND_URL" >> "$HOME/pulumi.log"\n'
        'echo "error: no stack named prod" >&2; exit 255\n'
    )
    fake.chmod(0o755)
    venv = Path(sys.executable).parent.parent
    result = subprocess.run(
        ["make", "-s", "smoke", "STACK=prod", f"VENV={venv}", f"STATE_DIR={tmp_path / 'state'}"],
        cwd=smoke.ROOT,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "pulumi stack output urls --stack prod` failed: error: no stack named prod" in result.stderr
    assert "Is the stack up" in result.stderr
    calls = (tmp_path / "pulumi.log").read_text().splitlines()
    assert calls == [f"pulumi stack output urls --json --stack prod backend=file://{tmp_path / 'state'}"]
