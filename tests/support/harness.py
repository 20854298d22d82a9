"""Real Prometheus and Alertmanager processes on 127.0.0.1, started from the rendered dev config.

The config is what `tools.render.render("dev", …)` writes, with these render overrides (stack
config keys, set the way `pulumi config set` would):

    scrapeInterval=1s, scrapeTimeout=1s, evaluationInterval=1s   rules evaluate every second
    alertmanagerWebhookUrl=http://127.0.0.1:<port>/hook            the receiver that records deliveries
    vegaDatabaseTargets=[vega-database:9187]                      so the database job is rendered

and only these rewrites of the rendered files; the rule files are copied unchanged:

    prometheus.yml
      scrape targets        each job's targets -> 127.0.0.1:<port> of the real process (jobs
                            prometheus, alertmanager) or of the synthetic exporter that serves the
                            job (vega-api, vega-coordinator, vega-database, node-exporter,
                            cadvisor). grafana, loki, collector and jaeger have no binary here:
                            their jobs scrape synthetic endpoints exposing process metrics only.
                            Any other job (one a user adds in configs/prometheus/scrape_configs/)
                            scrapes a generic stand-in that answers every path with a minimal
                            exposition, over http (`scheme` and TLS settings of those jobs are
                            dropped), so "every target is up" holds for every job rendered.
      alerting targets      alertmanager:9093 -> the Alertmanager(s) started here
      HA runs only          external_labels.replica=<replica> and alert_relabel_configs dropping
                            `replica`, as the prod replicas are configured
    alertmanager.yml
      group_wait            30s -> 1s, on every route that sets it
      group_interval        5m -> 2s (one Alertmanager) or, in a cluster, just above the longest
                            wait of a peer (see ha_group_interval),
                            on every route that sets it. repeat_interval is kept (1h and 4h,
                            longer than any run), so a repeat can never pass for a duplicate;
                            resolve_timeout is kept too: Prometheus sets every alert's end time
      templates             /etc/alertmanager/... -> the rendered files in the temp directory
    command lines           the rendered container command, container paths replaced by temp
                            directories, plus --web.listen-address=127.0.0.1:<port>; Alertmanager's
                            --web.external-url -> its 127.0.0.1 URL. HA runs take the cluster flags
                            from components.alertmanager.config.args(peers=…), the prod shape (one
                            --cluster.peer per other peer), with 127.0.0.1 gossip ports

Every process is started with its output in a log file, stopped by its PID (terminate, wait,
kill), and every wait is bounded and fails with the tails of the logs.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, TypeVar

import yaml

from components.alertmanager import config as alertmanager_config
from components.platform.docker import LABEL_SERVICE
from components.prometheus.kubernetes import REPLICA_LABEL, replica_alert_relabeling
from demo.vega import TARGETS, MetricsServer, Scenario, SyntheticVega
from tests.support.loopback import LoopbackServer, Process
from tools.render import render

ROOT = Path(__file__).resolve().parent.parent.parent

T = TypeVar("T")

SCRAPE_INTERVAL = 1.0
EVALUATION_INTERVAL = 1.0
GROUP_WAIT = 1.0
GROUP_INTERVAL = 2.0
# Alertmanager's --cluster.peer-timeout (default, as in prod): how long a peer waits per
# position in the cluster before it checks the shared notification log and notifies.
PEER_TIMEOUT = 15.0


def peer_wait(peers: int) -> float:
    """How long the last of `peers` waits before it checks the log: PEER_TIMEOUT per position."""
    return (peers - 1) * PEER_TIMEOUT


def ha_group_interval(peers: int) -> float:
    """group_interval of a cluster: above the last peer's wait, as prod's 5m is. Every peer
    flushes each group once per group_interval and the last one's flush reaches the log check
    peer_wait later; were group_interval shorter, that peer would always hold a flush taken
    before a resolution, find "resolved" in the log, and send its stale "firing" after it
    (upstream behaviour: prometheus/alertmanager#2447)."""
    return peer_wait(peers) + 5.0

RENDER_OVERRIDES: dict[str, Any] = {
    "scrapeInterval": f"{SCRAPE_INTERVAL:g}s",
    "scrapeTimeout": f"{SCRAPE_INTERVAL:g}s",
    "evaluationInterval": f"{EVALUATION_INTERVAL:g}s",
    "vegaDatabaseTargets": ["vega-database:9187"],
}


# --------------------------------------------------------------------------- small helpers


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (for processes that need it up front)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], T | None], timeout: float, what: str, logs: Callable[[], str] = str) -> T:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds with the
    logs. An exception inside `check` counts as "not yet" (and is shown on failure)."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception as error:  # a process still starting refuses connections
            last_error = f"{type(error).__name__}: {error}"
        if time.monotonic() >= deadline:
            detail = f"\nlast error: {last_error}" if last_error else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}\n{logs()}")
        time.sleep(0.2)


class ApiError(AssertionError):
    """The server answered, with an error (a rejected query, say)."""


def get_json(url: str, params: Mapping[str, Any] | None = None, timeout: float = 5.0) -> Any:
    if params:
        url += "?" + urllib.parse.urlencode(params, doseq=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise ApiError(f"HTTP {error.code} from {url}: {error.read().decode(errors='replace')}") from None


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False


# --------------------------------------------------------------------------- processes


def local_path(path: str, mapping: Mapping[str, str]) -> str:
    """`path` with a container directory prefix (a key of `mapping`) replaced by a local one."""
    for container_path, local in mapping.items():
        if path == container_path or path.startswith(container_path + "/"):
            return local + path[len(container_path) :]
    return path


def replace_paths(argv: Sequence[str], mapping: Mapping[str, str]) -> list[str]:
    """Map container paths in `--flag=value` arguments to local ones."""
    out = []
    for arg in argv:
        flag, sep, value = arg.partition("=")
        out.append(flag + sep + local_path(value, mapping))
    return out


def set_flag(argv: Sequence[str], flag: str, value: str) -> list[str]:
    """argv with `--flag=value`, replacing the flag when present."""
    out = [a for a in argv if a.partition("=")[0] != flag]
    return [*out, f"{flag}={value}"]


class Server:
    """A server process on a 127.0.0.1 port, ready once /-/ready answers."""

    name: str
    port: int
    process: Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.process.start()
        wait_until(self._ready, timeout, f"{self.name} to be ready", self.process.log_tail)

    def _ready(self) -> bool:
        if not self.process.alive:
            raise AssertionError(f"{self.name} exited\n{self.process.log_tail()}")
        return http_ok(f"{self.url}/-/ready")


class Prometheus(Server):
    """A Prometheus server from a config directory (prometheus.yml + rules/)."""

    def __init__(self, binary: str, name: str, config_dir: Path, data_dir: Path, port: int, rendered_args: Sequence[str]):
        self.name = name
        self.port = port
        self.config_dir = config_dir
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        argv = replace_paths(rendered_args, {"/etc/prometheus": str(config_dir), "/prometheus": str(data_dir)})
        argv = set_flag(argv, "--web.listen-address", f"127.0.0.1:{port}")
        self.process = Process(name, [binary, *argv], config_dir.parent / f"{name}.log")

    def api(self, path: str, **params: Any) -> Any:
        body = get_json(f"{self.url}/api/v1/{path}", params)
        if body.get("status") != "success":
            raise AssertionError(f"{self.name} {path} {params}: {body}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query; a scalar or string result comes back as one row."""
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self.api("query", **params)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def targets(self) -> list[dict[str, Any]]:
        return list(self.api("targets", state="active")["activeTargets"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.api("alerts")["alerts"])


class Alertmanager(Server):
    """An Alertmanager from a config directory; `cluster_port`/`peers` make it an HA peer."""

    def __init__(
        self,
        binary: str,
        name: str,
        config_dir: Path,
        data_dir: Path,
        port: int,
        rendered_args: Sequence[str],
    ):
        self.name = name
        self.port = port
        data_dir.mkdir(parents=True, exist_ok=True)
        argv = replace_paths(rendered_args, {"/etc/alertmanager": str(config_dir), "/alertmanager": str(data_dir)})
        argv = set_flag(argv, "--web.external-url", self.url)
        argv = set_flag(argv, "--web.listen-address", f"127.0.0.1:{port}")
        self.process = Process(name, [binary, *argv], config_dir.parent / f"{name}.log")

    def status(self) -> dict[str, Any]:
        return dict(get_json(f"{self.url}/api/v2/status"))

    def alerts(self) -> list[dict[str, Any]]:
        return list(get_json(f"{self.url}/api/v2/alerts"))


# --------------------------------------------------------------------------- webhook receiver


@dataclass(frozen=True)
class Delivery:
    """One webhook notification: when it arrived (time.time()) and what it said."""

    at: float
    payload: dict[str, Any]

    def alerts(self, alertname: str, status: str | None = None) -> list[dict[str, Any]]:
        return [
            a
            for a in self.payload.get("alerts", [])
            if a.get("labels", {}).get("alertname") == alertname and (status is None or a.get("status") == status)
        ]


class WebhookReceiver(LoopbackServer):
    """Records every Alertmanager webhook POST with its arrival time."""

    def __init__(self) -> None:
        self._deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        super().__init__(_HookHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def record(self, payload: dict[str, Any]) -> None:
        with self._lock:
            self._deliveries.append(Delivery(time.time(), payload))

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def notifications(self, alertname: str, status: str | None = None, since: float = 0.0) -> list[Delivery]:
        """Deliveries since `since` that carry `alertname` (in that alert status)."""
        return [d for d in self.deliveries() if d.at >= since and d.alerts(alertname, status)]

    def wait_for(
        self, alertname: str, status: str, since: float, timeout: float, logs: Callable[[], str] = str
    ) -> Delivery:
        def first() -> Delivery | None:
            found = self.notifications(alertname, status, since)
            return found[0] if found else None

        def context() -> str:
            seen = [(round(d.at - since, 1), d.payload.get("status"), d.payload.get("groupLabels")) for d in self.deliveries()]
            return f"deliveries so far (seconds after start, status, group): {seen}\n{logs()}"

        return wait_until(first, timeout, f"a {status} {alertname} notification", context)


class _HookHandler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            payload = json.loads(self.rfile.read(length))
        except ValueError:
            self.send_response(400)
            self.end_headers()
            return
        self.server.record(payload)
        self.send_response(200)
        self.end_headers()


# --------------------------------------------------------------------------- stand-in target


class StandInTarget(LoopbackServer):
    """The target of every job the synthetic exporter does not know: any GET path answers
    with a minimal exposition (the process' start time), so the job is scraped and up."""

    def __init__(self) -> None:
        self.started = time.time()
        self.paths: set[str] = set()
        super().__init__(_StandInHandler)


class _StandInHandler(BaseHTTPRequestHandler):
    server: StandInTarget

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.paths.add(self.path.split("?", 1)[0])
        body = (
            "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
            "# TYPE process_start_time_seconds gauge\n"
            f"process_start_time_seconds {self.server.started:.3f}\n"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# --------------------------------------------------------------------------- config rewrites


def rendered_command(render_dir: Path, service: str) -> list[str]:
    """The command of a service's container in the render's resources.json."""
    for resource in json.loads((render_dir / "resources.json").read_text()):
        if resource["type"] != "docker:index/container:Container":
            continue
        labels = {item["label"]: item["value"] for item in resource["inputs"].get("labels") or []}
        if labels.get(LABEL_SERVICE) == service:
            return list(resource["inputs"].get("command") or [])
    raise AssertionError(f"no {service} container in {render_dir}/resources.json")


def prometheus_yaml(
    rendered: str,
    targets: Mapping[str, Sequence[str]],
    alertmanagers: Sequence[str],
    replica: str | None = None,
    stand_in: Sequence[str] = (),
) -> str:
    """The rendered prometheus.yml with every target on 127.0.0.1 (see the module docstring):
    a job of `targets` scrapes its addresses, any other one `stand_in`."""
    doc = yaml.safe_load(rendered)
    for job in doc["scrape_configs"]:
        sd = [key for key in job if key.endswith("_sd_configs")]
        if sd:
            raise AssertionError(f"job {job['job_name']}: service discovery {sd} is not rewritten by the harness")
        if job["job_name"] not in targets:  # served by the stand-in, over http
            for key in ("scheme", "tls_config"):
                job.pop(key, None)
        labels = (job.get("static_configs") or [{}])[0].get("labels")
        group: dict[str, Any] = {"targets": list(targets.get(job["job_name"], stand_in))}
        if labels:
            group["labels"] = labels
        job["static_configs"] = [group]
    for am in doc["alerting"]["alertmanagers"]:
        am["static_configs"] = [{"targets": list(alertmanagers)}]
    if replica is not None:
        # exactly what the prod replicas get (components/prometheus/kubernetes.py)
        doc["global"].setdefault("external_labels", {})[REPLICA_LABEL] = replica
        doc["alerting"]["alert_relabel_configs"] = replica_alert_relabeling()
    return yaml.safe_dump(doc, sort_keys=True)


def _shorten(route: dict[str, Any], group_interval: float) -> None:
    if "group_wait" in route:
        route["group_wait"] = f"{GROUP_WAIT:g}s"
    if "group_interval" in route:
        route["group_interval"] = f"{group_interval:g}s"
    for child in route.get("routes") or []:
        _shorten(child, group_interval)


def alertmanager_yaml(rendered: str, config_dir: Path, group_interval: float = GROUP_INTERVAL) -> str:
    """The rendered alertmanager.yml with short grouping timers and local template paths."""
    doc = yaml.safe_load(rendered)
    _shorten(doc["route"], group_interval)
    mapping = {alertmanager_config.CONFIG_DIR: str(config_dir)}
    doc["templates"] = [local_path(t, mapping) for t in doc.get("templates") or []]
    return yaml.safe_dump(doc, sort_keys=True)


# --------------------------------------------------------------------------- the stack


@dataclass
class LiveStack:
    """Synthetic exporters, a webhook receiver, Prometheus replica(s) and Alertmanager peer(s)."""

    workdir: Path
    model: SyntheticVega
    exporters: dict[str, MetricsServer]
    webhook: WebhookReceiver
    stand_in: StandInTarget
    prometheus: list[Prometheus] = field(default_factory=list)
    alertmanagers: list[Alertmanager] = field(default_factory=list)
    rules_dir: Path = field(default_factory=Path)
    jobs: list[str] = field(default_factory=list)
    demos: dict[str, tuple[Process, str]] = field(default_factory=dict)  # target -> the demo program, its address

    def logs(self) -> str:
        procs = [p.process for p in self.prometheus] + [a.process for a in self.alertmanagers]
        return "\n".join(p.log_tail() for p in procs)

    def close(self) -> None:
        processes = [p.process for p in self.prometheus] + [a.process for a in self.alertmanagers]
        processes += [process for process, _ in self.demos.values()]
        for process in processes:
            try:
                process.stop()
            except Exception as error:  # keep stopping the others
                print(f"stopping {process.name} (pid {process.pid}): {error}")
        for exporter in self.exporters.values():
            exporter.stop()
        self.stand_in.stop()
        self.webhook.stop()

    def wait_targets_up(self, prometheus: Prometheus, timeout: float = 45.0) -> list[dict[str, Any]]:
        def all_up() -> list[dict[str, Any]] | None:
            found = prometheus.targets()
            jobs = {t["labels"]["job"] for t in found}
            if jobs >= set(self.jobs) and all(t["health"] == "up" for t in found):
                return found
            return None

        def context() -> str:
            try:
                rows = [(t["labels"]["job"], t["scrapeUrl"], t["health"], t["lastError"]) for t in prometheus.targets()]
            except Exception as error:
                rows = [("?", "?", "?", str(error))]
            return "targets: " + json.dumps(rows, indent=1) + "\n" + self.logs()

        return wait_until(all_up, timeout, f"every target of {prometheus.name} to be up", context)

    def wait_cluster_ready(self, timeout: float = 90.0) -> None:
        size = len(self.alertmanagers)

        def ready() -> bool:
            for am in self.alertmanagers:
                cluster = am.status().get("cluster") or {}
                if cluster.get("status") != "ready" or len(cluster.get("peers") or []) != size:
                    return False
            return True

        wait_until(ready, timeout, f"the {size} Alertmanager peers to form a settled cluster", self.logs)


@contextmanager
def live_stack(
    workdir: Path,
    prometheus_bin: str,
    alertmanager_bin: str,
    *,
    replicas: int = 1,
    peers: int = 1,
    scenario: Scenario | None = None,
    promtool: str | None = None,
    demo_programs: Sequence[str] = (),
) -> Iterator[LiveStack]:
    """Start everything, yield the stack, stop everything (also when starting fails).

    With `promtool`, every rewritten prometheus.yml (rule files included) is checked with
    `promtool check config` before anything starts.

    replicas > 1 gives each Prometheus `replica-<i>` as external label and drops it from alerts;
    peers > 1 makes the Alertmanagers one gossiping cluster; every Prometheus sends to every
    Alertmanager (the prod shape).

    `demo_programs` names targets served by the demo program itself (`python -m demo`, as the dev
    stack runs it, on a bare interpreter) instead of the in-process model; `scenario` does not
    reach those.
    """
    model = SyntheticVega(scenario or Scenario())
    webhook = WebhookReceiver().start()
    stack = LiveStack(workdir, model, {}, webhook, StandInTarget().start())
    try:
        stack.exporters = {
            target: MetricsServer(model, target).start() for target in TARGETS if target not in demo_programs
        }
        for target in demo_programs:
            port = free_port()
            boot = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from demo.__main__ import main; sys.exit(main())"
            process = Process(
                f"demo-{target}",
                [sys.executable, "-S", "-c", boot, "--target", target, "--port", str(port)],
                workdir / f"demo-{target}.log",
            )
            process.start()
            stack.demos[target] = (process, f"127.0.0.1:{port}")
        render_dir = workdir / "render"
        render("dev", render_dir, {**RENDER_OVERRIDES, "alertmanagerWebhookUrl": webhook.url})
        config = render_dir / "config"

        am_ports = [free_port() for _ in range(peers)]
        cluster_ports = [free_port() for _ in range(peers)]
        prom_ports = [free_port() for _ in range(replicas)]
        am_addresses = [f"127.0.0.1:{p}" for p in am_ports]

        am_rendered = rendered_command(render_dir, "alertmanager")
        for i in range(peers):
            am_dir = workdir / f"alertmanager-{i}"
            am_conf = am_dir / "config"
            am_conf.mkdir(parents=True)
            (am_conf / "templates").mkdir()
            for tmpl in (config / "alertmanager" / "templates").glob("*.tmpl"):
                (am_conf / "templates" / tmpl.name).write_text(tmpl.read_text())
            (am_conf / "alertmanager.yml").write_text(
                alertmanager_yaml(
                    (config / "alertmanager" / "alertmanager.yml").read_text(),
                    am_conf,
                    GROUP_INTERVAL if peers == 1 else ha_group_interval(peers),
                )
            )
            args = am_rendered
            if peers > 1:
                others = tuple(f"127.0.0.1:{p}" for j, p in enumerate(cluster_ports) if j != i)
                args = [a for a in am_rendered if not a.startswith("--cluster.")]
                cluster_args = alertmanager_config.args(peers=others)
                args += [a for a in cluster_args if a.startswith("--cluster.")]
                args = set_flag(args, "--cluster.listen-address", f"127.0.0.1:{cluster_ports[i]}")
            stack.alertmanagers.append(
                Alertmanager(alertmanager_bin, f"alertmanager-{i}", am_conf, am_dir / "data", am_ports[i], args)
            )

        prom_rendered = rendered_command(render_dir, "prometheus")
        rendered_yaml = (config / "prometheus" / "prometheus.yml").read_text()
        stack.rules_dir = config / "prometheus" / "rules"
        stack.jobs = [job["job_name"] for job in yaml.safe_load(rendered_yaml)["scrape_configs"]]
        for i in range(replicas):
            prom_dir = workdir / f"prometheus-{i}"
            prom_conf = prom_dir / "config"
            prom_conf.mkdir(parents=True)
            targets: dict[str, list[str]] = {t: [s.address] for t, s in stack.exporters.items()}
            targets |= {t: [address] for t, (_, address) in stack.demos.items()}
            targets["prometheus"] = [f"127.0.0.1:{prom_ports[i]}"]
            targets["alertmanager"] = am_addresses
            replica = f"replica-{i}" if replicas > 1 else None
            (prom_conf / "prometheus.yml").write_text(
                prometheus_yaml(rendered_yaml, targets, am_addresses, replica, [stack.stand_in.address])
            )
            (prom_conf / "rules").mkdir()
            for rule_file in sorted(stack.rules_dir.glob("*.yml")):  # unchanged
                (prom_conf / "rules" / rule_file.name).write_bytes(rule_file.read_bytes())
            stack.prometheus.append(
                Prometheus(prometheus_bin, f"prometheus-{i}", prom_conf, prom_dir / "data", prom_ports[i], prom_rendered)
            )

        if promtool:
            for prom in stack.prometheus:
                check = subprocess.run(
                    [promtool, "check", "config", str(prom.config_dir / "prometheus.yml")],
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                if check.returncode != 0:
                    raise AssertionError(f"promtool rejects the rewritten config:\n{check.stdout}{check.stderr}")
        for am in stack.alertmanagers:
            am.process.start()
        for am in stack.alertmanagers:
            wait_until(am._ready, 60, f"{am.name} to be ready", stack.logs)
        if peers > 1:
            stack.wait_cluster_ready()
        for prom in stack.prometheus:
            prom.process.start()
        for prom in stack.prometheus:
            wait_until(prom._ready, 60, f"{prom.name} to be ready", stack.logs)
        yield stack
    finally:
        stack.close()


# --------------------------------------------------------------------------- rules and reports


def load_rules(rules_dir: Path) -> list[dict[str, Any]]:
    """Every rule of the rendered rule files, each with its `group` added."""
    out = []
    for path in sorted(rules_dir.glob("*.yml")):
        for group in yaml.safe_load(path.read_text()).get("groups") or []:
            for rule in group.get("rules") or []:
                out.append({**rule, "group": group["name"], "file": path.name})
    return out


def alert_rule(rules_dir: Path, name: str) -> dict[str, Any]:
    found = [r for r in load_rules(rules_dir) if r.get("alert") == name]
    if len(found) != 1:
        raise AssertionError(f"expected one alert rule {name} in {rules_dir}, found {len(found)}")
    return found[0]


@dataclass
class AlertRun:
    """One alert's trip through the pipeline, in seconds since the epoch."""

    scenario: str
    alert: str
    condition_start: float  # the exporter started showing the condition
    delivered: float  # the webhook received the firing notification
    # for + evaluation interval + group_wait. Up to one evaluation interval less is possible: the
    # interval is the most the scrape/evaluation phase can add, and it may add almost nothing.
    floor: float
    condition_cleared: float | None = None
    resolved: float | None = None  # the webhook received the resolved notification
    notes: str = ""

    @property
    def latency(self) -> float:
        return self.delivered - self.condition_start

    def as_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "scenario": self.scenario,
            "alert": self.alert,
            "latency_seconds": round(self.latency, 1),
            "floor_seconds": round(self.floor, 1),
            "over_floor_seconds": round(self.latency - self.floor, 1),
        }
        if self.resolved is not None and self.condition_cleared is not None:
            row["resolve_latency_seconds"] = round(self.resolved - self.condition_cleared, 1)
        if self.notes:
            row["notes"] = self.notes
        return row


def write_report(path: Path, runs: Sequence[AlertRun]) -> str:
    """Write the runs as JSON to `path` and return the text."""
    text = json.dumps([run.as_dict() for run in runs], indent=2) + "\n"
    path.write_text(text)
    return text
