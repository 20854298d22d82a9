"""A synthetic Vega: the metrics of docs/metrics.md from a controllable scenario, plus the
cAdvisor, node-exporter and postgres_exporter series the dashboards read.

The model (`SyntheticVega`) is pure: given a scenario and a time it produces the exposition
text of one scrape target, in the Prometheus text format or in OpenMetrics (with `trace_id`
exemplars on the request-duration buckets). Counters are integrals of the scenario's rates,
so changing the scenario at some instant bends them without a reset. The same model serves
live scrapes (`MetricsServer`) and writes backfill input for
`promtool tsdb create-blocks-from openmetrics` (`SyntheticVega.backfill`).

    python -m demo.vega --port 8000                  # vega-api at /metrics
    curl localhost:8000/metrics/vega-coordinator                # any target at /metrics/<target>
    curl -XPOST localhost:8000/scenario -d '{"active": 1}'      # change the scenario
    python -m demo.vega backfill --participants 1000 --hours 2 --out vega.om
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from demo.server import LoopbackServer

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

# Scrape targets the model can serve. The last four stand in for services whose binaries
# are not available to the live tests: they expose process metrics only.
VEGA_TARGETS = ("vega-api", "vega-coordinator", "vega-database")
HOST_TARGETS = ("node-exporter", "cadvisor")
STUB_TARGETS = ("grafana", "loki", "collector", "jaeger")
TARGETS = VEGA_TARGETS + HOST_TARGETS + STUB_TARGETS

# Request-duration buckets of the API (docs/metrics.md: 5ms…10s).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
AGGREGATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Endpoint:
    """One route of the API: its share of the traffic and its typical latency."""

    method: str
    route: str
    share: float
    median_seconds: float
    not_found_ratio: float = 0.0


API_ENDPOINTS = (
    Endpoint("GET", "/health", 0.30, 0.002),
    Endpoint("GET", "/models", 0.15, 0.02),
    Endpoint("GET", "/models/{id}", 0.25, 0.035, not_found_ratio=0.02),
    Endpoint("POST", "/federated/rounds", 0.05, 0.08),
    Endpoint("POST", "/federated/updates", 0.25, 0.12),
)
# Spread of request latencies (sigma of the log-normal distribution). With the medians above,
# about 0.3% of the requests other than /health take longer than 500ms.
LATENCY_SIGMA = 0.6

# Containers cAdvisor reports: Vega's own and the stack's (docker names of the dev stack).
CONTAINERS = (
    ("vega-api", "vega/api:2.0.0", 0.20, 350e6),
    ("vega-coordinator", "vega/coordinator:2.0.0", 0.45, 900e6),
    ("vega-database", "postgres:16.4", 0.10, 500e6),
    ("vega-observability-prometheus", "prom/prometheus", 0.08, 400e6),
    ("vega-observability-alertmanager", "prom/alertmanager", 0.01, 40e6),
    ("vega-observability-grafana", "grafana/grafana", 0.03, 150e6),
    ("vega-observability-loki", "grafana/loki", 0.05, 250e6),
    ("vega-observability-collector", "grafana/alloy", 0.02, 120e6),
    ("vega-observability-jaeger", "jaegertracing/jaeger", 0.03, 200e6),
    ("vega-observability-node-exporter", "prom/node-exporter", 0.01, 20e6),
    ("vega-observability-cadvisor", "gcr.io/cadvisor/cadvisor", 0.04, 80e6),
)

DATABASES = ("vega", "postgres")

# What `POST /scenario/<name>` changes: the situations the seed's alerts are about, and back.
NAMED_SCENARIOS: dict[str, dict[str, Any]] = {
    "normal": {"active": None, "storm_errors_per_second": 0.0, "latency_factor": 1.0, "rounds_advancing": True},
    "error-storm": {"storm_errors_per_second": 5.0},  # HighErrorRate, the availability SLO alerts
    "participants-drop": {"active": 1},  # FederatedParticipantDown
    "slow-api": {"latency_factor": 8.0},  # the latency SLO alerts
    "stalled-rounds": {"rounds_advancing": False},  # FederatedRoundStalled
}


@dataclass(frozen=True)
class Scenario:
    """What the synthetic Vega is doing. Every rate is per second."""

    participants: int = 6  # registered participants (federated_participants_total)
    silos: int = 3  # participants are spread round-robin over this many silos
    active: int | None = None  # participants taking part now; None means all of them
    requests_per_second: float = 8.0  # API traffic over all routes
    errors_per_second: float = 0.01  # background 5xx answers, spread over the routes
    storm_errors_per_second: float = 0.0  # extra 5xx answers on storm_route (a "5xx storm")
    storm_route: str = "/models/{id}"
    latency_factor: float = 1.0  # multiplies every route's latency
    round_seconds: float = 30.0  # one training round lasts this long
    rounds_advancing: bool = True  # False freezes the round counter (a stalled federation)
    accuracy_start: float = 0.55  # global accuracy of round 1 ...
    accuracy_limit: float = 0.93  # ... approaching this value round after round
    aggregation_seconds: float = 0.8  # typical time to aggregate one round
    update_bytes: float = 4e6  # bytes the coordinator sends each active participant per round
    database_up: bool = True
    # Serve only the seed's metrics: no federated_participant_* gauges, and
    # federated_bytes_sent_total as one series without participant_id or silo labels.
    seed_only: bool = False

    def __post_init__(self) -> None:
        if self.participants < 0 or self.silos < 1:
            raise ValueError("participants must be >= 0 and silos >= 1")
        if self.active is not None and not 0 <= self.active <= self.participants:
            raise ValueError(f"active must be between 0 and participants ({self.participants})")
        if self.round_seconds <= 0:
            raise ValueError("round_seconds must be positive")
        if self.storm_route not in {e.route for e in API_ENDPOINTS}:
            raise ValueError(f"storm_route must be one of {[e.route for e in API_ENDPOINTS]}")

    @property
    def active_count(self) -> int:
        return self.participants if self.active is None else self.active


# --------------------------------------------------------------------------- exposition


@dataclass(frozen=True)
class Exemplar:
    labels: Labels
    value: float
    timestamp: float


@dataclass(frozen=True)
class Sample:
    suffix: str  # appended to the family name: "", "_bucket", "_sum", "_count"
    labels: Labels
    value: float
    exemplar: Exemplar | None = None


@dataclass
class Family:
    """One metric family. `name` is the name of the text format (counters keep `_total`)."""

    name: str
    type: str  # counter, gauge or histogram
    help: str
    samples: list[Sample] = field(default_factory=list)

    def add(self, value: float, labels: Labels = (), suffix: str = "", exemplar: Exemplar | None = None) -> None:
        self.samples.append(Sample(suffix, labels, value, exemplar))


def fmt(value: float) -> str:
    """A sample value as both formats write it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def to_text(families: Iterable[Family]) -> str:
    """The Prometheus text format 0.0.4."""
    lines = []
    for fam in families:
        lines.append(f"# HELP {fam.name} {_help(fam.help)}")
        lines.append(f"# TYPE {fam.name} {fam.type}")
        for s in fam.samples:
            lines.append(f"{fam.name}{s.suffix}{_labels(s.labels)} {fmt(s.value)}")
    return "\n".join(lines) + "\n"


def _openmetrics_type(fam: Family) -> tuple[str, str]:
    """(metadata name, type) in OpenMetrics: a counter's family name drops `_total`; a counter
    whose samples lack `_total` (postgres_exporter's) can only be written as `unknown`."""
    if fam.type == "counter":
        if fam.name.endswith("_total"):
            return fam.name[: -len("_total")], "counter"
        return fam.name, "unknown"
    return fam.name, fam.type


def openmetrics_lines(families: Iterable[Family], timestamp: float | None = None) -> Iterator[str]:
    """OpenMetrics lines (without the closing `# EOF`). With `timestamp` (backfill input)
    every sample is stamped and HELP lines are left out, exemplars are written only without."""
    stamp = "" if timestamp is None else f" {fmt(round(timestamp, 3))}"
    for fam in families:
        name, kind = _openmetrics_type(fam)
        if timestamp is None:
            yield f"# HELP {name} {_help(fam.help)}"
        yield f"# TYPE {name} {kind}"
        for s in fam.samples:
            line = f"{fam.name}{s.suffix}{_labels(s.labels)} {fmt(s.value)}{stamp}"
            if s.exemplar is not None and timestamp is None:
                ex = s.exemplar
                line += f" # {_labels(ex.labels) or '{}'} {fmt(ex.value)} {fmt(round(ex.timestamp, 3))}"
            yield line


def to_openmetrics(families: Iterable[Family]) -> str:
    return "\n".join([*openmetrics_lines(families), "# EOF"]) + "\n"


# --------------------------------------------------------------------------- the model


def _lognormal_share(le: float, median: float, sigma: float = LATENCY_SIGMA) -> float:
    """Fraction of observations at or below `le` for a log-normal latency distribution."""
    return 0.5 * (1.0 + math.erf((math.log(le) - math.log(median)) / (sigma * math.sqrt(2.0))))


def _unit(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1) derived from `parts`."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def trace_id(*parts: object) -> str:
    return hashlib.sha256(b"trace\x1f" + "\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


CounterKey = tuple[str, str, Labels]  # (family, suffix, labels)


class SyntheticVega:
    """The synthetic Vega platform and its host. Thread-safe.

    Counters are integrals of the rates the current scenario implies: `update()` first
    carries every counter forward to the moment of the change, then switches the rates.
    `start` is the time the counters start from (seconds since the epoch).
    """

    def __init__(self, scenario: Scenario | None = None, start: float | None = None):
        self._lock = threading.Lock()
        self._scenario = scenario or Scenario()
        self.start = time.time() if start is None else start
        self._mark_time = self.start
        self._marks: dict[str, dict[CounterKey, float]] = {target: {} for target in TARGETS}
        self._round_mark = 0.0  # rounds completed at _mark_time (fractional)

    # ---- scenario

    @property
    def scenario(self) -> Scenario:
        with self._lock:
            return self._scenario

    def update(self, at: float | None = None, **changes: Any) -> Scenario:
        """Change the scenario at time `at` (now by default); returns the new scenario."""
        now = time.time() if at is None else at
        with self._lock:
            new = dataclasses.replace(self._scenario, **changes)
            if now < self._mark_time:
                raise ValueError("the scenario can only change forward in time")
            for target in TARGETS:
                self._marks[target] = self._counters(target, now)
            self._round_mark = self._rounds(now)
            self._mark_time = now
            self._scenario = new
            return new

    # ---- derived state

    def _rounds(self, t: float) -> float:
        s = self._scenario
        rate = 1.0 / s.round_seconds if s.rounds_advancing else 0.0
        return self._round_mark + rate * max(0.0, t - self._mark_time)

    def _counters(self, target: str, t: float) -> dict[CounterKey, float]:
        dt = max(0.0, t - self._mark_time)
        out = dict(self._marks[target])
        for key, rate in self._rates(target).items():
            out[key] = out.get(key, 0.0) + rate * dt
        return out

    def participants(self) -> list[tuple[str, str, bool]]:
        """(participant_id, silo, active) of every registered participant."""
        s = self._scenario
        width = max(3, len(str(s.participants)))
        silo_width = max(2, len(str(s.silos)))
        return [
            (f"participant-{i + 1:0{width}d}", f"silo-{i % s.silos + 1:0{silo_width}d}", i < s.active_count)
            for i in range(s.participants)
        ]

    # ---- rates of every counter, by target

    def _rates(self, target: str) -> dict[CounterKey, float]:
        rates = {
            "vega-api": self._api_rates,
            "vega-coordinator": self._coordinator_rates,
            "vega-database": self._database_rates,
            "node-exporter": self._node_rates,
            "cadvisor": self._cadvisor_rates,
        }.get(target)
        if rates is None:
            return {("process_cpu_seconds_total", "", ()): 0.01 + 0.01 * _unit(target)}
        return rates()

    def _api_rates(self) -> dict[CounterKey, float]:
        s = self._scenario
        out: dict[CounterKey, float] = {}
        for ep in API_ENDPOINTS:
            total = s.requests_per_second * ep.share
            errors = s.errors_per_second * ep.share
            storm = s.storm_errors_per_second if ep.route == s.storm_route else 0.0
            route = (("method", ep.method), ("endpoint", ep.route))
            by_status = {
                "200": max(0.0, total * (1 - ep.not_found_ratio) - errors),
                "404": total * ep.not_found_ratio,
                "500": errors,
                "503": storm,
            }
            for status, rate in by_status.items():
                out[("http_requests_total", "", (*route, ("status", status)))] = rate
            observed = total + storm
            median = ep.median_seconds * s.latency_factor
            for le in DURATION_BUCKETS:
                share = _lognormal_share(le, median)
                out[("http_request_duration_seconds", "_bucket", (*route, ("le", fmt(le))))] = observed * share
            out[("http_request_duration_seconds", "_bucket", (*route, ("le", "+Inf")))] = observed
            out[("http_request_duration_seconds", "_count", route)] = observed
            out[("http_request_duration_seconds", "_sum", route)] = observed * median * math.exp(LATENCY_SIGMA**2 / 2)
        out[("process_cpu_seconds_total", "", ())] = 0.02 + 0.004 * s.requests_per_second
        return out

    def _coordinator_rates(self) -> dict[CounterKey, float]:
        s = self._scenario
        rounds_per_second = 1.0 / s.round_seconds if s.rounds_advancing else 0.0
        out: dict[CounterKey, float] = {}
        for pid, silo, active in self.participants():
            rate = s.update_bytes * rounds_per_second * (0.9 + 0.2 * _unit(pid)) if active else 0.0
            labels: Labels = () if s.seed_only else (("participant_id", pid), ("silo", silo))
            key = ("federated_bytes_sent_total", "", labels)
            out[key] = out.get(key, 0.0) + rate
        median = s.aggregation_seconds * max(1.0, s.active_count / 50.0) ** 0.5
        for le in AGGREGATION_BUCKETS:
            out[("federated_aggregation_duration_seconds", "_bucket", (("le", fmt(le)),))] = (
                rounds_per_second * _lognormal_share(le, median, 0.4)
            )
        out[("federated_aggregation_duration_seconds", "_bucket", (("le", "+Inf"),))] = rounds_per_second
        out[("federated_aggregation_duration_seconds", "_count", ())] = rounds_per_second
        out[("federated_aggregation_duration_seconds", "_sum", ())] = rounds_per_second * median * math.exp(0.08)
        out[("process_cpu_seconds_total", "", ())] = 0.05 + 0.002 * s.active_count
        return out

    def _database_rates(self) -> dict[CounterKey, float]:
        s = self._scenario
        if not s.database_up:
            return {}
        out: dict[CounterKey, float] = {}
        for db in DATABASES:
            weight = 1.0 if db == "vega" else 0.02
            load = weight * (s.requests_per_second + 0.1 * s.active_count)
            labels = (("datid", str(16384 + DATABASES.index(db))), ("datname", db))
            for name, per_request in (
                ("xact_commit", 1.5),
                ("xact_rollback", 0.01),
                ("blks_read", 0.5),
                ("blks_hit", 40.0),
                ("tup_returned", 120.0),
                ("tup_fetched", 30.0),
                ("tup_inserted", 0.8),
                ("tup_updated", 0.4),
                ("tup_deleted", 0.05),
                ("deadlocks", 0.0),
            ):
                out[(f"pg_stat_database_{name}", "", labels)] = load * per_request
        return out

    def _node_rates(self) -> dict[CounterKey, float]:
        s = self._scenario
        busy = min(0.9, 0.08 + 0.01 * s.requests_per_second + 0.004 * s.active_count)
        modes = {"user": 0.6, "system": 0.25, "iowait": 0.05, "irq": 0.02, "softirq": 0.05, "steal": 0.02, "nice": 0.01}
        out: dict[CounterKey, float] = {}
        for cpu in ("0", "1"):
            out[("node_cpu_seconds_total", "", (("cpu", cpu), ("mode", "idle")))] = 1.0 - busy
            for mode, part in modes.items():
                out[("node_cpu_seconds_total", "", (("cpu", cpu), ("mode", mode)))] = busy * part
        traffic = 2e4 * s.requests_per_second + s.update_bytes * s.active_count / s.round_seconds
        for device, scale in (("eth0", 1.0), ("lo", 0.1)):
            out[("node_network_receive_bytes_total", "", (("device", device),))] = 0.6 * traffic * scale
            out[("node_network_transmit_bytes_total", "", (("device", device),))] = traffic * scale
        out[("node_disk_read_bytes_total", "", (("device", "sda"),))] = 2e5 + 1e4 * s.requests_per_second
        out[("node_disk_written_bytes_total", "", (("device", "sda"),))] = 6e5 + 3e4 * s.requests_per_second
        busy_disk = min(1.0, 0.03 + 0.005 * s.requests_per_second)
        out[("node_disk_io_time_seconds_total", "", (("device", "sda"),))] = busy_disk
        return out

    def _cadvisor_rates(self) -> dict[CounterKey, float]:
        s = self._scenario
        out: dict[CounterKey, float] = {}
        load = 0.5 + s.requests_per_second / 16.0
        for name, image, cpu, _memory in CONTAINERS:
            labels = self._container_labels(name, image)
            out[("container_cpu_usage_seconds_total", "", (*labels, ("cpu", "total")))] = cpu * load
            net = 5e4 * load * (1 + 10 * cpu)
            for direction, scale in (("receive", 1.0), ("transmit", 0.7)):
                out[(f"container_network_{direction}_bytes_total", "", (*labels, ("interface", "eth0")))] = net * scale
                out[(f"container_network_{direction}_packets_total", "", (*labels, ("interface", "eth0")))] = (
                    net * scale / 900.0
                )
            for op, scale in (("reads", 0.3), ("writes", 1.0)):
                out[(f"container_fs_{op}_bytes_total", "", (*labels, ("device", "/dev/sda")))] = 2e4 * load * scale
        return out

    @staticmethod
    def _container_labels(name: str, image: str) -> Labels:
        cid = hashlib.sha256(name.encode()).hexdigest()
        return (("id", f"/docker/{cid}"), ("image", image), ("name", name))

    # ---- families per target

    def families(self, target: str, t: float | None = None, *, exemplars: bool = False) -> list[Family]:
        """Every metric family `target` exposes at time `t` (now by default)."""
        if target not in TARGETS:
            raise KeyError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
        now = time.time() if t is None else t
        with self._lock:
            counters = self._counters(target, now)
            build: Callable[[dict[CounterKey, float], float, bool], list[Family]] = {
                "vega-api": self._api_families,
                "vega-coordinator": self._coordinator_families,
                "vega-database": self._database_families,
                "node-exporter": self._node_families,
                "cadvisor": self._cadvisor_families,
            }.get(target, lambda c, n, e: self._stub_families(target, c, n))
            return build(counters, now, exemplars)

    def exposition(self, target: str, t: float | None = None, *, openmetrics: bool = False) -> str:
        fams = self.families(target, t, exemplars=openmetrics)
        return to_openmetrics(fams) if openmetrics else to_text(fams)

    def _process(self, counters: Mapping[CounterKey, float], t: float, memory: float) -> list[Family]:
        cpu = Family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.")
        cpu.add(counters.get(("process_cpu_seconds_total", "", ()), 0.0))
        rss = Family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
        rss.add(round(memory * (1.0 + 0.05 * math.sin((t - self.start) / 60.0))))
        start = Family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.")
        start.add(round(self.start, 3))
        return [cpu, rss, start]

    @staticmethod
    def _counter_family(
        counters: Mapping[CounterKey, float], name: str, help_text: str, kind: str = "counter"
    ) -> Family:
        fam = Family(name, kind, help_text)
        for (fname, suffix, labels), value in counters.items():
            if fname == name:
                fam.add(value, labels, suffix)
        return fam

    def _api_families(self, counters: Mapping[CounterKey, float], t: float, exemplars: bool) -> list[Family]:
        s = self._scenario
        requests = self._counter_family(counters, "http_requests_total", "HTTP requests served, by route and status.")
        duration = Family("http_request_duration_seconds", "histogram", "HTTP request duration in seconds.")
        window = int(t // 10)
        for (fname, suffix, labels), value in counters.items():
            if fname != "http_request_duration_seconds":
                continue
            exemplar = None
            if exemplars and suffix == "_bucket":
                exemplar = self._exemplar(labels, window, t)
            duration.add(value, labels, suffix, exemplar)
        return [requests, duration, *self._process(counters, t, 180e6 + 2e6 * s.requests_per_second)]

    @staticmethod
    def _exemplar(labels: Labels, window: int, t: float) -> Exemplar:
        """A request that fell into this bucket recently, with the trace that recorded it."""
        le = dict(labels)["le"]
        upper = math.inf if le == "+Inf" else float(le)
        bounds = (0.0, *DURATION_BUCKETS)
        lower = max((b for b in bounds if b < upper), default=0.0)
        value = lower * 1.5 if math.isinf(upper) else lower + (upper - lower) * (0.25 + 0.5 * _unit(labels, window))
        return Exemplar((("trace_id", trace_id(labels, window)),), round(value, 6), float(window * 10))

    def _coordinator_families(self, counters: Mapping[CounterKey, float], t: float, _: bool) -> list[Family]:
        s = self._scenario
        rounds = self._rounds(t)
        current_round = math.floor(rounds) + 1
        accuracy_now = s.accuracy_limit - (s.accuracy_limit - s.accuracy_start) * math.exp(-(current_round - 1) / 12.0)

        def gauge(name: str, help_text: str, value: float) -> Family:
            fam = Family(name, "gauge", help_text)
            fam.add(value)
            return fam

        up = Family("federated_participant_up", "gauge", "1 while the participant is connected and healthy.")
        duration = Family(
            "federated_participant_round_duration_seconds", "gauge", "Local training time of the last round."
        )
        accuracy = Family("federated_participant_accuracy", "gauge", "Accuracy of the participant's local model.")
        for pid, silo, active in self.participants():
            labels = (("participant_id", pid), ("silo", silo))
            up.add(1 if active else 0, labels)
            jitter = _unit(pid, current_round)  # changes from round to round
            speed = 0.3 + 0.5 * _unit(pid, "speed")  # a participant's share of the round it trains
            duration.add(round(s.round_seconds * speed * (1 + 0.1 * jitter), 3), labels)
            local = accuracy_now - 0.08 * _unit(pid, "skill") + 0.02 * jitter
            accuracy.add(round(max(0.0, local), 4), labels)
        per_participant = [] if s.seed_only else [up, duration, accuracy]  # the extended contract
        return [
            gauge("federated_participants_active", "Participants taking part in the current round.", s.active_count),
            gauge("federated_participants_total", "Registered participants.", s.participants),
            gauge("federated_round_current", "Number of the current training round.", current_round),
            gauge("federated_model_accuracy", "Accuracy of the global model.", round(accuracy_now, 4)),
            self._counter_family(
                counters,
                "federated_aggregation_duration_seconds",
                "Time to aggregate one round's updates.",
                kind="histogram",
            ),
            self._counter_family(counters, "federated_bytes_sent_total", "Bytes sent to each participant."),
            *per_participant,
            *self._process(counters, t, 600e6 + 1e5 * s.participants),
        ]

    def _database_families(self, counters: Mapping[CounterKey, float], t: float, _: bool) -> list[Family]:
        s = self._scenario
        pg_up = Family("pg_up", "gauge", "Whether the last scrape of the database was able to connect.")
        pg_up.add(1 if s.database_up else 0)
        families = [pg_up]
        if not s.database_up:
            return families
        backends = Family("pg_stat_database_numbackends", "gauge", "Backends connected to this database.")
        size = Family("pg_database_size_bytes", "gauge", "Disk space used by the database.")
        for db in DATABASES:
            labels = (("datid", str(16384 + DATABASES.index(db))), ("datname", db))
            weight = 1.0 if db == "vega" else 0.05
            backends.add(round(weight * (4 + s.requests_per_second / 2 + s.active_count / 20)), labels)
            size.add(round(weight * (8e8 + 2e3 * (t - self.start))), (("datname", db),))
        families += [backends, size]
        for name in sorted({k[0] for k in counters if k[0].startswith("pg_stat_database_")}):
            families.append(
                self._counter_family(counters, name, f"{name[len('pg_stat_database_') :]} of the database.")
            )
        max_conn = Family("pg_settings_max_connections", "gauge", "Server setting max_connections.")
        max_conn.add(100)
        families.append(max_conn)
        return families

    def _node_families(self, counters: Mapping[CounterKey, float], t: float, _: bool) -> list[Family]:
        s = self._scenario
        total = 24 * 2**30
        used = 6 * 2**30 + 1.5e8 * s.requests_per_second / 8 + 2e6 * s.active_count
        wave = math.sin((t - self.start) / 120.0)

        def gauge(name: str, help_text: str, value: float, labels: Labels = ()) -> Family:
            fam = Family(name, "gauge", help_text)
            fam.add(value, labels)
            return fam

        def meminfo(field: str, value: float) -> Family:
            return gauge(f"node_memory_{field}_bytes", f"Memory information field {field}_bytes.", round(value))

        disk = (("device", "/dev/sda1"), ("fstype", "ext4"), ("mountpoint", "/"))
        disk_size = 200 * 2**30
        disk_avail = disk_size * 0.6 - 1e3 * (t - self.start)
        load = 2 * min(0.9, 0.08 + 0.01 * s.requests_per_second + 0.004 * s.active_count)
        families = [
            self._counter_family(counters, "node_cpu_seconds_total", "Seconds the CPUs spent in each mode."),
            meminfo("MemTotal", total),
            meminfo("MemAvailable", total - used * (1 + 0.02 * wave)),
            meminfo("MemFree", (total - used) * 0.4),
            meminfo("Cached", (total - used) * 0.5),
            meminfo("Buffers", (total - used) * 0.05),
            gauge("node_filesystem_size_bytes", "Filesystem size in bytes.", disk_size, disk),
            gauge("node_filesystem_avail_bytes", "Space available to non-root users.", round(disk_avail), disk),
            gauge("node_filesystem_free_bytes", "Filesystem free space in bytes.", round(disk_avail + 2**30), disk),
            gauge("node_load1", "1m load average.", round(load * (1 + 0.1 * wave), 3)),
            gauge("node_load5", "5m load average.", round(load, 3)),
            gauge("node_load15", "15m load average.", round(load * 0.95, 3)),
            gauge("node_boot_time_seconds", "Node boot time, in unixtime.", round(self.start - 86400)),
            gauge("node_time_seconds", "System time in seconds since epoch (1970).", round(t, 3)),
        ]
        for name, help_text in (
            ("node_network_receive_bytes_total", "Network device statistic receive_bytes."),
            ("node_network_transmit_bytes_total", "Network device statistic transmit_bytes."),
            ("node_disk_read_bytes_total", "The total number of bytes read successfully."),
            ("node_disk_written_bytes_total", "The total number of bytes written successfully."),
            ("node_disk_io_time_seconds_total", "Total seconds spent doing I/Os."),
        ):
            families.append(self._counter_family(counters, name, help_text))
        return families

    def _cadvisor_families(self, counters: Mapping[CounterKey, float], t: float, _: bool) -> list[Family]:
        s = self._scenario
        wave = math.sin((t - self.start) / 90.0)
        working = Family("container_memory_working_set_bytes", "gauge", "Current working set in bytes.")
        usage = Family("container_memory_usage_bytes", "gauge", "Current memory usage in bytes.")
        limit = Family("container_spec_memory_limit_bytes", "gauge", "Memory limit for the container.")
        fs_usage = Family("container_fs_usage_bytes", "gauge", "Bytes consumed by the container on this filesystem.")
        last_seen = Family("container_last_seen", "gauge", "Last time a container was seen by the exporter.")
        started = Family("container_start_time_seconds", "gauge", "Start time of the container since unix epoch.")
        for name, image, _cpu, memory in CONTAINERS:
            labels = self._container_labels(name, image)
            extra = 1e5 * s.active_count if name == "vega-coordinator" else 0.0
            ws = round(memory * (1 + 0.03 * wave) + extra)
            working.add(ws, labels)
            usage.add(round(ws * 1.15), labels)
            limit.add(round(memory * 2.5), labels)
            fs_usage.add(round(memory * 0.3), (*labels, ("device", "/dev/sda")))
            last_seen.add(round(t), labels)
            started.add(round(self.start - 3600), labels)
        families = [working, usage, limit, fs_usage, last_seen, started]
        for name, help_text in (
            ("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds."),
            ("container_network_receive_bytes_total", "Cumulative count of bytes received."),
            ("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted."),
            ("container_network_receive_packets_total", "Cumulative count of packets received."),
            ("container_network_transmit_packets_total", "Cumulative count of packets transmitted."),
            ("container_fs_reads_bytes_total", "Cumulative count of bytes read."),
            ("container_fs_writes_bytes_total", "Cumulative count of bytes written."),
        ):
            families.append(self._counter_family(counters, name, help_text))
        return families

    def _stub_families(self, target: str, counters: Mapping[CounterKey, float], t: float) -> list[Family]:
        return self._process(counters, t, 60e6 + 1e8 * _unit(target))

    # ---- backfill

    def backfill(self, start: float, end: float, step: float, targets: Iterable[str] = VEGA_TARGETS) -> Iterator[str]:
        """OpenMetrics text for `promtool tsdb create-blocks-from openmetrics`: every family of
        `targets` at start, start+step, … < end, each sample stamped, `job` and `instance`
        labels added as a scrape would. Lines are yielded one at a time (time-major, so each
        series' samples are in time order; promtool accepts the repeated metadata)."""
        if step <= 0 or end <= start:
            raise ValueError("backfill needs step > 0 and end > start")
        chosen = list(targets)
        for target in chosen:
            if target not in TARGETS:
                raise KeyError(f"unknown target {target!r}")
        count = math.ceil((end - start) / step)
        for i in range(count):
            t = start + i * step
            for target in chosen:
                scrape = (("instance", f"{target}:synthetic"), ("job", target))
                fams = [
                    Family(f.name, f.type, f.help, [Sample(x.suffix, x.labels + scrape, x.value) for x in f.samples])
                    for f in self.families(target, t)
                ]
                yield from openmetrics_lines(fams, timestamp=t)
        yield "# EOF"


# --------------------------------------------------------------------------- HTTP


class MetricsServer(LoopbackServer):
    """Serves one model on 127.0.0.1: `/metrics` (the server's own target),
    `/metrics/<target>` (any target), GET/POST `/scenario` (JSON)."""

    def __init__(self, model: SyntheticVega, target: str = "vega-api", port: int = 0, host: str = "127.0.0.1"):
        if target not in TARGETS:
            raise KeyError(f"unknown target {target!r}")
        self.model = model
        self.target = target
        self.scrapes = 0
        super().__init__(_Handler, port, host)


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, code: int, body: str, content_type: str) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _scenario_json(self) -> str:
        return json.dumps(dataclasses.asdict(self.server.model.scenario), sort_keys=True) + "\n"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/scenario":
            self._send(200, self._scenario_json(), "application/json")
            return
        if path == "/metrics":
            target = self.server.target
        elif path.startswith("/metrics/") and path[len("/metrics/") :] in TARGETS:
            target = path[len("/metrics/") :]
        else:
            self._send(404, f"not found; try /metrics or /metrics/<{'|'.join(TARGETS)}>\n", "text/plain")
            return
        openmetrics = "application/openmetrics-text" in self.headers.get("Accept", "")
        body = self.server.model.exposition(target, openmetrics=openmetrics)
        self.server.scrapes += 1
        self._send(200, body, OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE)

    def do_POST(self) -> None:
        path = self.path.rstrip("/")
        named = path[len("/scenario/") :] if path.startswith("/scenario/") else None
        if path != "/scenario" and named not in NAMED_SCENARIOS:
            self._send(
                404,
                "POST /scenario with a JSON object of Scenario fields, or POST /scenario/<name> with"
                f" a name of {', '.join(NAMED_SCENARIOS)}\n",
                "text/plain",
            )
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            changes = NAMED_SCENARIOS[named] if named else json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object")
            self.server.model.update(**changes)
        except (ValueError, TypeError) as error:
            self._send(400, f"{error}\n", "text/plain")
            return
        self._send(200, self._scenario_json(), "application/json")


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (serve)")
    parser.add_argument("--target", default="vega-api", choices=TARGETS, help="what /metrics serves (serve)")
    parser.add_argument("--participants", type=int, default=Scenario.participants)
    parser.add_argument("--silos", type=int, default=Scenario.silos)
    parser.add_argument("--seed-only", action="store_true", help="serve only the seed's metrics (docs/metrics.md)")
    fill = sub.add_parser("backfill", help="write OpenMetrics backfill input for promtool")
    fill.add_argument("--participants", type=int, default=1000)
    fill.add_argument("--silos", type=int, default=40)
    fill.add_argument("--hours", type=float, default=2.0, help="length of the history, ending now")
    fill.add_argument("--step", type=float, default=15.0, help="seconds between samples")
    fill.add_argument("--targets", default=",".join(VEGA_TARGETS), help="comma-separated targets")
    fill.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    scenario = Scenario(participants=args.participants, silos=args.silos, seed_only=args.seed_only)
    if args.command == "backfill":
        end = math.floor(time.time())
        start = end - args.hours * 3600
        model = SyntheticVega(scenario, start=start)
        with args.out.open("w") as out:
            for line in model.backfill(start, end, args.step, args.targets.split(",")):
                out.write(line + "\n")
        print(f"wrote {args.out}: {args.participants} participants, {args.hours}h at {args.step}s")
        return 0

    server = MetricsServer(SyntheticVega(scenario), args.target, args.port)
    print(f"serving {args.target} at http://127.0.0.1:{server.port}/metrics (every target at /metrics/<target>)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
