"""The demo Vega: one target of the synthetic Vega (the API or the coordinator) as a running
service, for the dev stack's first run (stack setting `demo`).

    python -m demo --target vega-api --host 0.0.0.0 --port 8000 --otlp http://jaeger:4318

It serves the seed's metrics (and the extended contract of docs/metrics.md) at /metrics, writes
Vega's JSON log lines to stdout and sends OTLP traces whose ids match the exemplars and the log
lines. Scenarios, on request:

    curl -XPOST localhost:8000/scenario/error-storm        # the API answers 5xx: HighErrorRate
    curl -XPOST localhost:8001/scenario/participants-drop  # 1 active participant: FederatedParticipantDown
    curl -XPOST localhost:8001/scenario/normal             # back to normal
    curl -XPOST localhost:8000/scenario -d '{"latency_factor": 4}'   # any Scenario field
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence

from demo.telemetry import Emitter
from demo.vega import VEGA_TARGETS, MetricsServer, Scenario, SyntheticVega

DEMO_TARGETS = ("vega-api", "vega-coordinator")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=DEMO_TARGETS, default="vega-api")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--otlp", default="", help="OTLP/HTTP endpoint for traces, e.g. http://jaeger:4318")
    parser.add_argument("--participants", type=int, default=Scenario.participants)
    parser.add_argument("--silos", type=int, default=Scenario.silos)
    parser.add_argument("--seed-only", action="store_true", help="serve only the seed's metrics")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    assert args.target in VEGA_TARGETS
    model = SyntheticVega(Scenario(participants=args.participants, silos=args.silos, seed_only=args.seed_only))
    server = MetricsServer(model, args.target, args.port, args.host).start()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    started = {"level": "INFO", "module": "vega.demo", "message": f"demo {args.target} on {args.host}:{server.port}"}
    print(json.dumps(started), flush=True)
    try:
        Emitter(model, args.target, otlp=args.otlp).run(stop=stopping.is_set)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
