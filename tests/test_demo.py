"""The demo Vega's logs and traces (demo/telemetry.py): OTLP payloads that the OpenTelemetry
protocol definitions accept, trace ids that match the exemplars Prometheus scrapes and the log
lines Loki collects, and the seed's log structure."""

from __future__ import annotations

import base64
import io
import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from demo.telemetry import WINDOW_SECONDS, Emitter, api_requests, coordinator_rounds, otlp_traces, post_traces
from demo.vega import Scenario, SyntheticVega
from tests.support.harness import free_port
from tests.support.loopback import LoopbackServer

START = 1_796_000_000.0  # a fixed instant: the model is deterministic
WINDOW = int(START // WINDOW_SECONDS) + 60  # ten minutes in


def _model(**scenario: Any) -> SyntheticVega:
    return SyntheticVega(Scenario(**scenario), start=START)


def strict_parse(payload: dict[str, Any]) -> ExportTraceServiceRequest:
    """Parse OTLP/HTTP JSON with the protocol's own message classes, refusing unknown fields.
    OTLP's JSON writes trace and span ids in hex where protobuf's JSON mapping expects base64:
    they are converted first, and must be 16 and 8 bytes."""
    doc = json.loads(json.dumps(payload))
    for resource in doc["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key, size in (("traceId", 16), ("spanId", 8), ("parentSpanId", 8)):
                    if key in span:
                        raw = bytes.fromhex(span[key])
                        assert len(raw) == size and any(raw), f"{key} {span[key]!r} is not {size} non-zero bytes"
                        span[key] = base64.b64encode(raw).decode()
    return json_format.ParseDict(doc, ExportTraceServiceRequest(), ignore_unknown_fields=False)


def test_api_traces_are_valid_otlp_and_one_per_exemplar() -> None:
    model = _model()
    spans, logs = api_requests(model, WINDOW)
    request = strict_parse(otlp_traces(spans))
    (resource,) = request.resource_spans
    services = [a.value.string_value for a in resource.resource.attributes if a.key == "service.name"]
    assert services == ["vega-api"]
    parsed = resource.scope_spans[0].spans
    assert len(parsed) == len(spans) > 0
    for span in parsed:
        assert span.kind == ProtoSpan.SPAN_KIND_SERVER
        assert span.end_time_unix_nano > span.start_time_unix_nano
        assert span.status.code == Status.STATUS_CODE_UNSET
        keys = {a.key for a in span.attributes}
        assert {"http.request.method", "http.route", "http.response.status_code"} <= keys

    # The exemplars Prometheus scrapes in that window name exactly these traces and log lines.
    at = WINDOW * WINDOW_SECONDS + WINDOW_SECONDS - 0.001
    exemplars = {
        dict(s.exemplar.labels)["trace_id"]
        for f in model.families("vega-api", at, exemplars=True)
        for s in f.samples
        if s.exemplar is not None
    }
    assert exemplars == {s.trace_id for s in spans}
    assert exemplars == {dict(line.fields)["trace_id"] for line in logs}


def test_log_lines_have_the_seeds_structure() -> None:
    _, api_logs = api_requests(_model(), WINDOW)
    _, coordinator_logs = coordinator_rounds(_model(round_seconds=5.0), WINDOW)
    assert coordinator_logs, "a round completes every 5s, so a 10s window has one"
    for line in api_logs + coordinator_logs:
        doc = json.loads(line.json())
        assert {"timestamp", "level", "module", "message"} <= set(doc)
        assert doc["timestamp"].endswith("Z") and time.strptime(doc["timestamp"][:19], "%Y-%m-%dT%H:%M:%S")
        assert doc["level"] in ("INFO", "WARNING", "ERROR")
    completed = [json.loads(line.json()) for line in coordinator_logs if "completed" in dict(line.fields)["message"]]
    assert completed and all({"round", "accuracy", "trace_id"} <= set(d) for d in completed)
    updates = [
        json.loads(line.json()) for line in coordinator_logs if dict(line.fields)["message"] == "Update received"
    ]
    assert updates and all(d["participant_id"].startswith("participant-") for d in updates)


def test_coordinator_round_traces_nest_participant_updates() -> None:
    spans, _ = coordinator_rounds(_model(round_seconds=5.0, participants=4), WINDOW)
    request = strict_parse(otlp_traces(spans))
    parsed = request.resource_spans[0].scope_spans[0].spans
    roots = [s for s in parsed if not s.parent_span_id]
    assert roots and all(s.name == "aggregate round" for s in roots)
    children = [s for s in parsed if s.parent_span_id]
    assert len(children) == 4 * len(roots)
    assert {c.parent_span_id for c in children} == {r.span_id for r in roots}


def test_scenarios_show_in_logs_and_traces() -> None:
    storm, storm_logs = api_requests(_model(storm_errors_per_second=5.0), WINDOW)
    failing = [s for s in storm if s.error]
    assert failing and all(s.name.endswith(Scenario.storm_route) for s in failing)
    assert all(dict(s.attributes)["http.response.status_code"] == 503 for s in failing)
    assert any(dict(line.fields)["level"] == "ERROR" for line in storm_logs)
    proto = strict_parse(otlp_traces(failing)).resource_spans[0].scope_spans[0].spans
    assert all(s.status.code == Status.STATUS_CODE_ERROR for s in proto)

    _, dropped = coordinator_rounds(_model(participants=6, active=1), WINDOW)
    assert any("5 participants not responding" in dict(line.fields)["message"] for line in dropped)


class _Receiver(BaseHTTPRequestHandler):
    server: _Collector

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, self.headers["Content-Type"], json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


class _Collector(LoopbackServer):
    def __init__(self) -> None:
        self.received: list[tuple[str, str, Any]] = []
        super().__init__(_Receiver)


def test_emitter_writes_logs_and_posts_traces_to_the_otlp_endpoint() -> None:
    collector = _Collector().start()
    out = io.StringIO()
    try:
        emitter = Emitter(_model(), "vega-api", otlp=f"http://{collector.address}", out=out)
        spans, lines = emitter.emit(WINDOW)
    finally:
        collector.stop()
    ((path, content_type, payload),) = collector.received
    assert (path, content_type) == ("/v1/traces", "application/json")
    assert len(strict_parse(payload).resource_spans[0].scope_spans[0].spans) == spans
    written = out.getvalue().splitlines()
    assert len(written) == lines and all(json.loads(line)["module"] == "vega.api" for line in written)


def test_an_unreachable_trace_endpoint_is_logged_not_fatal() -> None:
    out = io.StringIO()
    closed = free_port()
    emitter = Emitter(_model(), "vega-api", otlp=f"http://127.0.0.1:{closed}", out=out)
    emitter.emit(WINDOW)
    last = json.loads(out.getvalue().splitlines()[-1])
    assert last["level"] == "WARNING" and "traces not sent" in last["message"]
    assert post_traces(f"http://127.0.0.1:{closed}", []) is None, "nothing to send is no error"


@pytest.mark.parametrize("target", ["vega-api", "vega-coordinator"])
def test_emitter_runs_each_finished_window_once_in_order(target: str) -> None:
    clock = [WINDOW * WINDOW_SECONDS + 0.2]
    emitted: list[int] = []

    class Counting(Emitter):
        def emit(self, window: int) -> tuple[int, int]:
            emitted.append(window)
            return 0, 0

    def sleep(seconds: float) -> None:
        clock[0] += 4.0  # four seconds pass between two looks at the clock

    checks = iter(range(12))
    Counting(_model(), target, clock=lambda: clock[0], sleep=sleep).run(stop=lambda: next(checks, 99) >= 11)
    # 44 seconds from 0.2s into WINDOW: WINDOW .. WINDOW+3 have ended, each emitted once, in order.
    assert emitted == [WINDOW, WINDOW + 1, WINDOW + 2, WINDOW + 3]
