"""Stand-ins on 127.0.0.1 for the HTTP APIs of services that have no binary here (Loki,
Jaeger, Grafana): each answers the few read endpoints `make smoke` uses with the response
shapes their documentation gives, from state a test sets.

    Loki     GET /ready                                  200 "ready" (503 "Ingester not ready")
             GET /loki/api/v1/label/<name>/values        {"status": "success", "data": [...]}
    Jaeger   GET /api/services                           {"data": [...], "total": n, ...}
    Grafana  GET /api/health                             {"database": "ok", "version": ...}
             GET /api/datasources/uid/<uid>/health       200 {"status": "OK", "message": ...}
                                                         400 {"status": "ERROR", "message": ...}
             GET /api/dashboards/uid/<uid>               200 {"dashboard": ..., "meta": ...}
                                                         404 {"message": "Dashboard not found"}
             GET /api/datasources/proxy/uid/<uid>/<path> forwarded to the stand-in of that uid

A stand-in that is given a credential answers 401 to any request without it.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback import LoopbackServer


@dataclass
class Answer:
    status: int
    body: Any

    def encoded(self) -> bytes:
        return (self.body if isinstance(self.body, str) else json.dumps(self.body)).encode()


@dataclass
class StandInState:
    """What the stand-in service reports; tests change it between runs."""

    credential: tuple[str, str] | None = None
    ready: bool = True
    labels: dict[str, list[str]] = field(default_factory=dict)  # Loki: label -> values
    services: list[str] = field(default_factory=list)  # Jaeger
    database: str = "ok"  # Grafana
    datasources: dict[str, str] = field(default_factory=dict)  # Grafana: uid -> "" (healthy) or error
    dashboards: set[str] = field(default_factory=set)  # Grafana: provisioned uids
    proxies: dict[str, str] = field(default_factory=dict)  # Grafana: datasource uid -> base URL
    requests: list[str] = field(default_factory=list)  # every path asked, in order


def loki(state: StandInState, path: str) -> Answer | None:
    if path == "/ready":
        return Answer(200, "ready") if state.ready else Answer(503, "Ingester not ready: waiting for 15s")
    match = re.fullmatch(r"/loki/api/v1/label/([^/]+)/values", path)
    if match:
        return Answer(200, {"status": "success", "data": state.labels.get(match[1], [])})
    return None


def jaeger(state: StandInState, path: str) -> Answer | None:
    if path == "/api/services":
        return Answer(
            200, {"data": state.services, "total": len(state.services), "limit": 0, "offset": 0, "errors": None}
        )
    return None


def grafana(state: StandInState, path: str) -> Answer | None:
    if path == "/api/health":
        return Answer(200, {"commit": "0000000", "database": state.database, "version": "13.2.2"})
    match = re.fullmatch(r"/api/datasources/uid/([^/]+)/health", path)
    if match:
        if match[1] not in state.datasources:
            return Answer(404, {"message": "Data source not found"})
        error = state.datasources[match[1]]
        if error:
            return Answer(400, {"status": "ERROR", "message": error})
        return Answer(200, {"status": "OK", "message": "Data source is working"})
    match = re.fullmatch(r"/api/dashboards/uid/([^/]+)", path)
    if match:
        if match[1] in state.dashboards:
            return Answer(200, {"dashboard": {"uid": match[1]}, "meta": {"provisioned": True}})
        return Answer(404, {"message": "Dashboard not found"})
    match = re.fullmatch(r"/api/datasources/proxy/uid/([^/]+)(/.*)", path)
    if match and match[1] in state.proxies:
        with urllib.request.urlopen(state.proxies[match[1]] + match[2], timeout=5) as upstream:
            return Answer(upstream.status, upstream.read().decode())
    return None


ROUTES = {"loki": loki, "jaeger": jaeger, "grafana": grafana}


class StandIn(LoopbackServer):
    """One stand-in service (`kind` of ROUTES) on a free 127.0.0.1 port."""

    def __init__(self, kind: str, state: StandInState | None = None) -> None:
        self.kind = kind
        self.state = state or StandInState()
        super().__init__(_Handler)

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def answer(self, path: str, authorization: str | None) -> Answer:
        self.state.requests.append(path)
        if self.state.credential is not None:
            user, password = self.state.credential
            expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if authorization != expected:
                return Answer(401, {"message": "Unauthorized"})
        return ROUTES[self.kind](self.state, path) or Answer(404, {"message": "Not found"})


class _Handler(BaseHTTPRequestHandler):
    server: StandIn

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        answer = self.server.answer(self.path.split("?", 1)[0], self.headers.get("Authorization"))
        body = answer.encoded()
        self.send_response(answer.status)
        self.send_header("Content-Type", "text/plain" if isinstance(answer.body, str) else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
