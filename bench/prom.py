"""A real Prometheus for the benchmark, its HTTP API, and the synthetic Vega it scrapes.

Everything listens on 127.0.0.1 and is stopped by its process id.

The Prometheus runs the rendered dev configuration: its command line (container paths mapped
to a temporary directory), its `global` section (scrape and evaluation interval) and its rule
files, unchanged. Only the scrape jobs differ: each job of the synthetic Vega's targets
scrapes `/metrics/<target>` of one synthetic server, with `instance` set to
`<target>:synthetic` so the live series continue the backfilled ones.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import multiprocessing.connection
import shutil
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from components.platform.docker import LABEL_SERVICE
from demo.vega import MetricsServer, Scenario, SyntheticVega
from tests.support.loopback import Process


class ApiError(RuntimeError):
    pass


class Api:
    """The Prometheus HTTP API over one kept-alive connection (as Grafana's data source
    proxy keeps its connections), queries sent as POST forms (Grafana's default)."""

    def __init__(self, port: int, timeout: float = 120.0):
        self.port = port
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _request(self, method: str, path: str, params: Mapping[str, Any]) -> tuple[int, bytes]:
        body = urllib.parse.urlencode(params)
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                if method == "POST":
                    headers = {"Content-Type": "application/x-www-form-urlencoded"}
                    self._conn.request("POST", path, body=body, headers=headers)
                else:
                    self._conn.request("GET", f"{path}?{body}" if body else path)
                response = self._conn.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def timed(self, path: str, params: Mapping[str, Any]) -> tuple[float, Any]:
        """(seconds until the whole answer was read, decoded data). Raises on an error answer."""
        began = time.perf_counter()
        status, raw = self._request("POST", f"/api/v1/{path}", params)
        elapsed = time.perf_counter() - began
        doc = json.loads(raw)
        if status != 200 or doc.get("status") != "success":
            raise ApiError(f"{path} {dict(params)} -> HTTP {status}: {raw[:500]!r}")
        return elapsed, doc["data"]

    def get(self, path: str, **params: Any) -> Any:
        status, raw = self._request("GET", f"/api/v1/{path}", params)
        doc = json.loads(raw)
        if status != 200 or doc.get("status") != "success":
            raise ApiError(f"{path} {params} -> HTTP {status}: {raw[:500]!r}")
        return doc["data"]

    def query(self, expr: str, at: float) -> Any:
        return self.timed("query", {"query": expr, "time": f"{at:.3f}"})[1]


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception as error:  # not up yet
            last = f": {type(error).__name__}: {error}"
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{last}")
        time.sleep(interval)


# --------------------------------------------------------------------------- configuration


def rendered_prometheus_args(rendered: Path) -> list[str]:
    """The command line the rendered stack gives the Prometheus container."""
    for resource in json.loads((rendered / "resources.json").read_text()):
        inputs = resource.get("inputs") or {}
        labels = {item.get("label"): item.get("value") for item in inputs.get("labels") or []}
        if resource["type"].endswith(":Container") and labels.get(LABEL_SERVICE) == "prometheus":
            return list(inputs.get("command") or [])
    raise LookupError(f"no Prometheus container in {rendered / 'resources.json'}")


def local_args(args: Sequence[str], config_dir: Path, data_dir: Path, port: int) -> list[str]:
    """`args` with the container's paths mapped to local ones and 127.0.0.1:<port>."""
    mapping = {"/etc/prometheus": str(config_dir), "/prometheus": str(data_dir)}
    out = []
    for arg in args:
        flag, sep, value = arg.partition("=")
        if flag == "--web.listen-address":
            continue
        for container, local in mapping.items():
            if value == container or value.startswith(container + "/"):
                value = local + value[len(container) :]
                break
        out.append(flag + sep + value)
    return [*out, f"--web.listen-address=127.0.0.1:{port}"]


def bench_config(rendered_config: Mapping[str, Any], targets: Sequence[str], address: str) -> dict[str, Any]:
    """The rendered prometheus.yml with the synthetic Vega's jobs as its only scrape jobs."""
    rendered_jobs = {job["job_name"]: job for job in rendered_config.get("scrape_configs") or []}
    template = rendered_jobs.get("vega-api", {})
    jobs = []
    for target in targets:
        job = {k: v for k, v in rendered_jobs.get(target, template).items() if not k.endswith("_sd_configs")}
        job.update(
            job_name=target,
            metrics_path=f"/metrics/{target}",
            scheme="http",
            static_configs=[{"targets": [address]}],
            relabel_configs=[{"target_label": "instance", "replacement": f"{target}:synthetic"}],
        )
        job.pop("metric_relabel_configs", None)
        jobs.append(job)
    config = {k: v for k, v in rendered_config.items() if k not in ("scrape_configs", "alerting", "remote_write")}
    config["scrape_configs"] = jobs
    return config


# --------------------------------------------------------------------------- processes


class PrometheusProcess:
    def __init__(self, binary: str, args: Sequence[str], log: Path, port: int):
        self.process = Process("prometheus", [binary, *args], log)
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> None:
        self.process.start()
        api = Api(self.port, timeout=2.0)

        def ready() -> bool:
            if not self.process.alive:
                raise RuntimeError(f"prometheus exited:\n{self.log_tail()}")
            status, _ = api._request("GET", "/-/ready", {})
            return status == 200

        try:
            wait_for(ready, timeout, "prometheus to be ready")
        finally:
            api.close()

    def stop(self, timeout: float = 30.0) -> None:
        self.process.stop(timeout)

    def log_tail(self, lines: int = 20) -> str:
        return self.process.log_tail(lines)


def _serve(scenario: Scenario, start: float, conn: multiprocessing.connection.Connection) -> None:
    server = MetricsServer(SyntheticVega(scenario, start=start), port=0)
    conn.send(server.port)
    conn.close()
    server.serve_forever(poll_interval=0.2)


class SyntheticServer:
    """The synthetic Vega in a child process (so serving scrapes never holds up the timed
    queries of this process)."""

    def __init__(self, scenario: Scenario, start: float):
        self.scenario = scenario
        self.start_time = start
        self.proc: Any = None  # a multiprocessing process of the fork context
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        ctx = multiprocessing.get_context("fork")
        parent, child = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_serve, args=(self.scenario, self.start_time, child), daemon=True)
        self.proc.start()
        child.close()
        if not parent.poll(timeout):
            self.stop()
            raise TimeoutError("the synthetic Vega did not start")
        self.port = int(parent.recv())
        parent.close()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=10)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(timeout=10)
        self.proc = None


# --------------------------------------------------------------------------- the TSDB on disk


def blocks(data_dir: Path) -> list[tuple[str, int, int]]:
    """(ulid, minTime, maxTime) of every complete block in a Prometheus data directory."""
    out = []
    for meta in sorted(data_dir.glob("*/meta.json")):
        if meta.parent.name.endswith(".tmp") or ".tmp-" in meta.parent.name:
            continue
        try:
            doc = json.loads(meta.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            continue  # deleted or being written by Prometheus right now
        out.append((meta.parent.name, int(doc["minTime"]), int(doc["maxTime"])))
    return out


def overlapping(found: Sequence[tuple[str, int, int]]) -> bool:
    spans = sorted((lo, hi) for _, lo, hi in found)
    return any(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1))


def move_blocks(source: Path, data_dir: Path) -> int:
    """Move every block of `source` into `data_dir` (one rename each, same file system)."""
    moved = 0
    for meta in sorted(source.glob("**/meta.json")):
        shutil.move(str(meta.parent), str(data_dir / meta.parent.name))
        moved += 1
    return moved


def wait_compacted(data_dir: Path, timeout: float, settle: float = 10.0) -> list[tuple[str, int, int]]:
    """Wait until Prometheus has merged the overlapping blocks and its block list has not
    changed for `settle` seconds; returns the blocks."""
    deadline = time.monotonic() + timeout
    last: list[tuple[str, int, int]] = []
    since = time.monotonic()
    while True:
        found = blocks(data_dir)
        if found != last:
            last, since = found, time.monotonic()
        if not overlapping(found) and time.monotonic() - since >= settle:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"the TSDB still has overlapping blocks after {timeout:.0f}s: {found}")
        time.sleep(1.0)


def write_yaml(path: Path, doc: Any) -> None:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
