"""The backup scripts of the prod stack, run for real with sh and curl against a fake
Grafana, a fake Prometheus (admin API and OTLP receiver, over TLS with basic auth) and a fake
S3 endpoint, all on 127.0.0.1.

What is real: the scripts, the shell, curl (with its SigV4 signing), and the OTLP message the
backups report, parsed with the OpenTelemetry protocol's own JSON mapping; what is not: the
services on the other end, which only record what they receive. (Debian's Prometheus is built
without the OTLP receiver, so the report's last hop is not run here.)
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from components.backup import SCRIPTS

pytestmark = pytest.mark.tool

DASHBOARDS = {"vega-system-overview": {"title": "Vega 2.0 - System Overview"}, "vega-federated-learning": {"title": "FL"}}


@dataclass
class Recorder:
    uploads: dict[str, bytes] = field(default_factory=dict)
    authorizations: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    reports: list[tuple[str, float, str]] = field(default_factory=list)  # backup, value, instance


def otlp_reports(body: bytes) -> list[tuple[str, float, str]]:
    """(backup, value, instance) of each vega_backup_success point of an OTLP/JSON request,
    which must parse as an ExportMetricsServiceRequest (unknown fields refused)."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    request = json_format.Parse(body, ExportMetricsServiceRequest())
    out = []
    for resource in request.resource_metrics:
        attrs = {a.key: a.value.string_value for a in resource.resource.attributes}
        assert attrs["service.name"] == "vega-backup"
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                assert metric.name == "vega_backup_success" and metric.HasField("gauge")
                for point in metric.gauge.data_points:
                    assert abs(point.time_unix_nano / 1e9 - time.time()) < 120, "the report is not timed now"
                    labels = {a.key: a.value.string_value for a in point.attributes}
                    out.append((labels["backup"], point.as_double, attrs["service.instance.id"]))
    return out


def serve(recorder: Recorder, credentials: str, tls: tuple[Path, Path] | None = None) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, code: int, body: Any = b"") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def authorized(self) -> bool:
            import base64

            expected = "Basic " + base64.b64encode(credentials.encode()).decode()
            return self.headers.get("Authorization") == expected

        def do_GET(self) -> None:
            if not self.authorized():
                return self.reply(401)
            if self.path.startswith("/api/search?type=dash-db"):
                return self.reply(200, [{"uid": uid, "title": d["title"], "folderUid": "vega"} for uid, d in DASHBOARDS.items()])
            if self.path.startswith("/api/dashboards/uid/"):
                uid = self.path.rsplit("/", 1)[1]
                return self.reply(200, {"dashboard": {"uid": uid, **DASHBOARDS[uid]}, "meta": {"folderUid": "vega"}})
            return self.reply(404)

        def do_POST(self) -> None:
            if not self.authorized():
                return self.reply(401)
            if self.path == "/api/v1/admin/tsdb/snapshot":
                recorder.snapshots.append(self.headers.get("Host", ""))
                return self.reply(200, {"status": "success", "data": {"name": "20261128T020000Z-1"}})
            if self.path == "/api/v1/otlp/v1/metrics":
                if self.headers.get("Content-Type") != "application/json":
                    return self.reply(415)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                recorder.reports += otlp_reports(body)
                return self.reply(200, {})
            return self.reply(404)

        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            recorder.uploads[self.path] = self.rfile.read(length)
            recorder.authorizations.append(self.headers.get("Authorization", ""))
            return self.reply(200)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def certificate(tool: Callable[[str], str], tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the CA the scripts verify with)."""
    openssl = tool("openssl")
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert),
        ],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


@pytest.fixture
def report_env(
    tool: Callable[[str], str], recorder: Recorder, certificate: tuple[Path, Path], tmp_path: Path
) -> Iterator[dict[str, str]]:
    """A fake Prometheus (TLS, basic auth vega:web-password) the scripts report to."""
    tool("curl")
    prometheus = serve(recorder, "vega:web-password", certificate)
    (tmp_path / "web_password").write_text("web-password")
    yield {
        "REPORT_TARGETS": f"127.0.0.1:{prometheus.server_address[1]}",
        "WEB_USERNAME": "vega",
        "WEB_PASSWORD_FILE": str(tmp_path / "web_password"),
        "CA_FILE": str(certificate[0]),
    }
    prometheus.shutdown()


@pytest.fixture
def s3(recorder: Recorder) -> Iterator[ThreadingHTTPServer]:
    server = serve(recorder, "unused")
    yield server
    server.shutdown()


@pytest.fixture
def s3_env(s3: ThreadingHTTPServer, tmp_path: Path) -> dict[str, str]:
    creds = tmp_path / "s3"
    creds.mkdir()
    (creds / "access_key_id").write_text("AKIATESTKEY")
    (creds / "secret_access_key").write_text("test-secret-key")
    return {
        "PATH": os.environ["PATH"],
        "S3_SCHEME": "http",
        "S3_ENDPOINT": f"127.0.0.1:{s3.server_address[1]}",
        "S3_REGION": "eu-central-1",
        "S3_BUCKET": "vega-backups",
        "S3_CREDENTIALS_DIR": str(creds),
    }


def export_dashboards(
    recorder: Recorder,
    env: dict[str, str],
    tmp_path: Path,
    password: str,
    accepted: str = "grafana-password",
) -> subprocess.CompletedProcess[str]:
    """Run export-dashboards.sh with `password` in its password file, against a fake Grafana
    that accepts admin:<accepted>."""
    grafana = serve(recorder, f"admin:{accepted}")
    (tmp_path / "password").write_text(password)
    env = {
        **env,
        "GRAFANA_URL": f"http://127.0.0.1:{grafana.server_address[1]}",
        "GRAFANA_USER": "admin",
        "GRAFANA_PASSWORD_FILE": str(tmp_path / "password"),
        "TMPDIR": str(tmp_path),
    }
    try:
        return subprocess.run(
            ["sh", str(SCRIPTS / "export-dashboards.sh")], env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        grafana.shutdown()


def test_grafana_export_uploads_every_dashboard_signed(
    recorder: Recorder, s3_env: dict[str, str], report_env: dict[str, str], tmp_path: Path
) -> None:
    done = export_dashboards(recorder, {**s3_env, **report_env}, tmp_path, "grafana-password")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "exported 2 dashboards" in done.stdout
    keys = sorted(recorder.uploads)
    assert len(keys) == 2 and all(k.startswith("/vega-backups/grafana/") for k in keys)
    for key in keys:
        uid = key.rsplit("/", 1)[1].removesuffix(".json")
        assert json.loads(recorder.uploads[key])["dashboard"]["uid"] == uid
    for auth in recorder.authorizations:
        assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIATESTKEY/") and "/eu-central-1/s3/aws4_request" in auth
    assert "test-secret-key" not in done.stdout + done.stderr
    assert recorder.reports == [("grafana-export", 1.0, "grafana-export")]


def test_grafana_export_fails_when_grafana_refuses_and_reports_it(
    recorder: Recorder, s3_env: dict[str, str], report_env: dict[str, str], tmp_path: Path
) -> None:
    done = export_dashboards(recorder, {**s3_env, **report_env}, tmp_path, "wrong-password")
    assert done.returncode != 0
    assert not recorder.uploads
    assert recorder.reports == [("grafana-export", 0.0, "grafana-export")]


def test_grafana_export_follows_a_password_rotation(
    recorder: Recorder, s3_env: dict[str, str], report_env: dict[str, str], tmp_path: Path
) -> None:
    """The job reads the password file at every run: after a rotation (Grafana and the
    Secret both changed), the next run logs in with the new password."""
    env = {**s3_env, **report_env}
    assert export_dashboards(recorder, env, tmp_path, "grafana-password").returncode == 0
    rotated = export_dashboards(recorder, env, tmp_path, "rotated-password", accepted="rotated-password")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert [value for _, value, _ in recorder.reports] == [1.0, 1.0]


def test_a_report_that_cannot_be_delivered_leaves_the_backup_done(
    recorder: Recorder, s3_env: dict[str, str], report_env: dict[str, str], tmp_path: Path
) -> None:
    unreachable = {**report_env, "REPORT_TARGETS": "127.0.0.1:9"}  # nothing listens on port 9
    done = export_dashboards(recorder, {**s3_env, **unreachable}, tmp_path, "grafana-password")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "could not report backup grafana-export to 127.0.0.1:9" in done.stderr


def test_shipper_uploads_each_snapshot_then_removes_it(
    recorder: Recorder, s3_env: dict[str, str], report_env: dict[str, str], tmp_path: Path
) -> None:
    snapshot = tmp_path / "data" / "snapshots" / "20261128T020000Z-1"
    (snapshot / "01BLOCK" / "chunks").mkdir(parents=True)
    (snapshot / "01BLOCK" / "meta.json").write_text('{"ulid": "01BLOCK"}')
    (snapshot / "01BLOCK" / "chunks" / "000001").write_bytes(b"\x00" * 1024)
    env = {
        **s3_env,
        **report_env,
        "DATA_DIR": str(tmp_path / "data"),
        "POD_NAME": "prometheus-0",
        "HEARTBEAT": str(tmp_path / "heartbeat"),
    }
    process = subprocess.Popen(
        ["sh", str(SCRIPTS / "ship-snapshots.sh")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while (snapshot.exists() or not recorder.reports) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output = process.communicate(timeout=10)[0].decode()
    assert not snapshot.exists(), f"snapshot not shipped:\n{output}"
    prefix = "/vega-backups/prometheus/prometheus-0/20261128T020000Z-1/01BLOCK"
    assert recorder.uploads[f"{prefix}/meta.json"] == b'{"ulid": "01BLOCK"}'
    assert recorder.uploads[f"{prefix}/chunks/000001"] == b"\x00" * 1024
    assert (tmp_path / "heartbeat").exists()
    assert recorder.reports == [("prometheus-snapshot", 1.0, "prometheus-0")]


def test_snapshot_job_asks_every_replica_over_tls(
    tool: Callable[[str], str], recorder: Recorder, certificate: tuple[Path, Path], tmp_path: Path
) -> None:
    tool("curl")
    cert, _ = certificate
    replicas = [serve(recorder, "vega:web-password", certificate) for _ in range(2)]
    (tmp_path / "password").write_text("web-password")
    env = {
        "PATH": os.environ["PATH"],
        "PROMETHEUS_TARGETS": " ".join(f"127.0.0.1:{r.server_address[1]}" for r in replicas),
        "WEB_USERNAME": "vega",
        "WEB_PASSWORD_FILE": str(tmp_path / "password"),
        "CA_FILE": str(cert),
    }
    try:
        done = subprocess.run(["sh", str(SCRIPTS / "prometheus-snapshot.sh")], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert len(recorder.snapshots) == 2
        # one replica down: the job fails (and says which), after asking the other one
        replicas[1].shutdown()
        replicas[1].server_close()
        recorder.snapshots.clear()
        failed = subprocess.run(["sh", str(SCRIPTS / "prometheus-snapshot.sh")], env=env, capture_output=True, text=True, timeout=60)
        assert failed.returncode != 0 and "snapshot FAILED" in failed.stderr
        assert len(recorder.snapshots) == 1
    finally:
        replicas[0].shutdown()
