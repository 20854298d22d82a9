"""The demo's logs and traces, matched to its metrics.

Every 10-second window the synthetic Vega's API exposes one exemplar per request-duration
bucket and route, each naming a trace id (`demo.vega.trace_id`). For each of those requests
the demo writes the trace (one server span, OTLP/HTTP JSON to Jaeger) and the request's JSON
log line (stdout, collected like Vega's own), so an exemplar on a dashboard leads to its trace,
and the trace to its log line. The coordinator writes one trace per completed training round
(an aggregation span with a child span per participant update) and the seed's log lines for it.

Log lines follow the seed's structure (docs/metrics.md, "Logs"): timestamp, level, module,
message, and participant_id, round, accuracy, trace_id where they apply.
"""

from __future__ import annotations

import json
import math
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from demo.vega import SyntheticVega, trace_id

WINDOW_SECONDS = 10
SPAN_KIND_INTERNAL = 1  # opentelemetry.proto.trace.v1.Span.SpanKind
SPAN_KIND_SERVER = 2
STATUS_CODE_UNSET = 0  # opentelemetry.proto.trace.v1.Status.StatusCode
STATUS_CODE_ERROR = 2


@dataclass(frozen=True)
class Span:
    service: str
    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_id: str  # "" for a root span
    name: str
    start: float  # seconds since the epoch
    seconds: float
    kind: int
    error: bool
    attributes: tuple[tuple[str, str | int | float], ...]


@dataclass(frozen=True)
class LogLine:
    at: float
    fields: tuple[tuple[str, Any], ...]

    def json(self) -> str:
        stamp = datetime.fromtimestamp(self.at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return json.dumps({"timestamp": stamp, **dict(self.fields)}, separators=(",", ":"))


def span_id(*parts: object) -> str:
    return trace_id("span", *parts)[:16]


def api_requests(model: SyntheticVega, window: int) -> tuple[list[Span], list[LogLine]]:
    """The requests behind the API's exemplars of one window: a span and a log line each."""
    at = window * WINDOW_SECONDS + WINDOW_SECONDS - 0.001
    scenario = model.scenario
    spans: list[Span] = []
    logs: list[LogLine] = []
    for family in model.families("vega-api", at, exemplars=True):
        for sample in family.samples:
            if sample.exemplar is None:
                continue
            labels = dict(sample.labels)
            method, route = labels["method"], labels["endpoint"]
            ex = sample.exemplar
            tid = dict(ex.labels)["trace_id"]
            storm = scenario.storm_errors_per_second > 0 and route == scenario.storm_route
            status = 503 if storm else 200
            start = ex.timestamp + _offset(tid)
            spans.append(
                Span(
                    "vega-api",
                    tid,
                    span_id(tid),
                    "",
                    f"{method} {route}",
                    start,
                    ex.value,
                    SPAN_KIND_SERVER,
                    status >= 500,
                    (("http.request.method", method), ("http.route", route), ("http.response.status_code", status)),
                )
            )
            logs.append(
                LogLine(
                    start + ex.value,
                    (
                        ("level", "ERROR" if status >= 500 else "INFO"),
                        ("module", "vega.api"),
                        ("message", f"{method} {route} {status} in {ex.value * 1000:.0f}ms"),
                        ("method", method),
                        ("endpoint", route),
                        ("status", status),
                        ("trace_id", tid),
                    ),
                )
            )
    return spans, logs


def _offset(tid: str) -> float:
    """Where in its window a request started: spread by its trace id, stable."""
    return int(tid[:8], 16) % 9000 / 1000.0


def coordinator_rounds(model: SyntheticVega, window: int) -> tuple[list[Span], list[LogLine]]:
    """The training rounds that completed in one window: an aggregation trace each, with a
    span per participant update, and the seed's log lines."""
    families = {f.name: f for f in model.families("vega-coordinator", window * WINDOW_SECONDS + WINDOW_SECONDS)}
    current = int(_value(families, "federated_round_current"))
    accuracy = _value(families, "federated_model_accuracy")
    before = {f.name: f for f in model.families("vega-coordinator", window * WINDOW_SECONDS)}
    finished = range(int(_value(before, "federated_round_current")), current)
    spans: list[Span] = []
    logs: list[LogLine] = []
    active = [pid for pid, _, up in model.participants() if up]
    for number in finished:
        tid = trace_id("round", number)
        root = span_id(tid)
        end = window * WINDOW_SECONDS + WINDOW_SECONDS - 0.5
        seconds = model.scenario.aggregation_seconds
        spans.append(
            Span(
                "vega-coordinator",
                tid,
                root,
                "",
                "aggregate round",
                end - seconds - 1.0,
                seconds + 1.0,
                SPAN_KIND_INTERNAL,
                False,
                (("federated.round", number), ("federated.participants", len(active))),
            )
        )
        for i, pid in enumerate(active):
            spans.append(
                Span(
                    "vega-coordinator",
                    tid,
                    span_id(tid, pid),
                    root,
                    "receive update",
                    end - seconds - 1.0 + 0.01 * i,
                    0.2,
                    SPAN_KIND_SERVER,
                    False,
                    (("participant_id", pid), ("federated.round", number)),
                )
            )
            logs.append(
                LogLine(
                    end - seconds - 0.8 + 0.01 * i,
                    (
                        ("level", "INFO"),
                        ("module", "federated.coordinator"),
                        ("message", "Update received"),
                        ("participant_id", pid),
                        ("round", number),
                        ("trace_id", tid),
                    ),
                )
            )
        logs.append(
            LogLine(
                end,
                (
                    ("level", "INFO"),
                    ("module", "federated.coordinator"),
                    ("message", f"Round {number} completed successfully"),
                    ("round", number),
                    ("accuracy", round(accuracy, 4)),
                    ("trace_id", tid),
                ),
            )
        )
    if len(active) < model.scenario.participants:
        logs.append(
            LogLine(
                window * WINDOW_SECONDS + 1,
                (
                    ("level", "WARNING"),
                    ("module", "federated.coordinator"),
                    ("message", f"{model.scenario.participants - len(active)} participants not responding"),
                    ("round", current),
                ),
            )
        )
    return spans, logs


def _value(families: dict[str, Any], name: str) -> float:
    samples = families[name].samples
    return float(samples[0].value) if samples else math.nan


# --------------------------------------------------------------------------- OTLP/HTTP JSON


def _attribute(key: str, value: str | int | float) -> dict[str, Any]:
    if isinstance(value, bool | str):
        return {"key": key, "value": {"stringValue": str(value)}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}  # int64 travels as a string
    return {"key": key, "value": {"doubleValue": value}}


def _nanos(seconds: float) -> str:
    return str(round(seconds * 1e9))


def otlp_traces(spans: Iterable[Span]) -> dict[str, Any]:
    """An ExportTraceServiceRequest in the OTLP/HTTP JSON encoding: lowerCamelCase field names,
    hex trace and span ids, enums as integers, 64-bit integers as decimal strings."""
    by_service: dict[str, list[dict[str, Any]]] = {}
    for s in spans:
        span: dict[str, Any] = {
            "traceId": s.trace_id,
            "spanId": s.span_id,
            "name": s.name,
            "kind": s.kind,
            "startTimeUnixNano": _nanos(s.start),
            "endTimeUnixNano": _nanos(s.start + s.seconds),
            "attributes": [_attribute(k, v) for k, v in s.attributes],
            "status": {"code": STATUS_CODE_ERROR} if s.error else {"code": STATUS_CODE_UNSET},
        }
        if s.parent_id:
            span["parentSpanId"] = s.parent_id
        by_service.setdefault(s.service, []).append(span)
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        _attribute("service.name", service),
                        _attribute("deployment.environment.name", "demo"),
                    ]
                },
                "scopeSpans": [{"scope": {"name": "vega-demo", "version": "1"}, "spans": spans_}],
            }
            for service, spans_ in sorted(by_service.items())
        ]
    }


def post_traces(endpoint: str, spans: Sequence[Span], timeout: float = 5.0) -> str | None:
    """POST the spans to `endpoint`/v1/traces; the error in words, or None when accepted."""
    if not spans:
        return None
    body = json.dumps(otlp_traces(spans)).encode()
    request = urllib.request.Request(
        endpoint.rstrip("/") + "/v1/traces", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except (urllib.error.URLError, OSError) as error:
        return str(error)
    return None


# --------------------------------------------------------------------------- the loop


@dataclass
class Emitter:
    """Writes each finished window's logs to `out` and its traces to `otlp` (when set)."""

    model: SyntheticVega
    target: str
    otlp: str = ""
    out: TextIO = sys.stdout
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def emit(self, window: int) -> tuple[int, int]:
        produce = api_requests if self.target == "vega-api" else coordinator_rounds
        spans, logs = produce(self.model, window)
        for line in sorted(logs, key=lambda line: line.at):
            self.out.write(line.json() + "\n")
        self.out.flush()
        if self.otlp:
            error = post_traces(self.otlp, spans)
            if error:
                self.out.write(
                    LogLine(
                        self.clock(),
                        (("level", "WARNING"), ("module", "vega.demo"), ("message", f"traces not sent: {error}")),
                    ).json()
                    + "\n"
                )
        return len(spans), len(logs)

    def run(self, stop: Callable[[], bool]) -> None:
        """Emit every window once it has ended, until `stop()` is true."""
        last = int(self.clock() // WINDOW_SECONDS) - 1
        while not stop():
            now = int(self.clock() // WINDOW_SECONDS)
            while last < now - 1:
                last += 1
                self.emit(last)
            self.sleep(0.5)
