"""Faults on loopback, in the shape of the prod stack (as many Prometheus replicas and
Alertmanager peers as the kubernetes stack file sets: 2 and 3): Prometheus replicas with the
external label `replica`, dropped from alerts by alert_relabel_configs, so all send identical
alerts, each sending to every peer of a gossiping Alertmanager cluster, which dedupes.

- a Prometheus replica killed while the alert is pending: the other replica(s) alone fire it,
  every peer holds it, and the receiver gets one firing notification, then one resolved one;
- the Alertmanager peer that would notify first killed while the alert is pending: the next
  peer delivers, exactly once (the one after it finds the delivery in the gossiped log), and
  the resolution exactly once;
- a Prometheus killed (and, separately, stopped cleanly) and started on the same data dir:
  every sample written before is still there.

One cluster serves every scenario in turn; each scenario starts from a healthy cluster (every
process running, every participant active, no alert pending) and leaves one behind. The alert is
FederatedParticipantDown (`for: 1m`), the cheapest of the seed's alerts. Each run's latency
(condition start to webhook delivery) is printed with its floor and written to a JSON file.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from components.settings import parse_duration
from tests.conftest import KUBERNETES_STACKS, ROOT
from tests.support.harness import (
    EVALUATION_INTERVAL,
    GROUP_WAIT,
    Alertmanager,
    AlertRun,
    LiveStack,
    alert_rule,
    ha_group_interval,
    live_stack,
    peer_wait,
    wait_until,
    write_report,
)

pytestmark = [pytest.mark.live, pytest.mark.tool]

ALERT = "FederatedParticipantDown"
# The fault strikes this long after the condition starts: while the alert is pending.
FAULT_AFTER = 20.0


def prod_replicas(key: str) -> int:
    """A replica count of the (first) kubernetes stack file: the shape the faults reproduce."""
    path = ROOT / f"Pulumi.{KUBERNETES_STACKS[0]}.yaml"
    value = (yaml.safe_load(path.read_text()).get("config") or {}).get(f"vega-observability:{key}")
    assert isinstance(value, int) and value > 1, f"{path.name}: vega-observability:{key} is {value!r}, not an HA count"
    return value


REPLICAS = prod_replicas("prometheusReplicas")
PEERS = prod_replicas("alertmanagerReplicas")
GROUP_INTERVAL = ha_group_interval(PEERS)
# After the last notification, watch this long for another: a flush in flight at that moment
# reaches the last peer's log check at most peer_wait later.
QUIET = peer_wait(PEERS) + 5.0

RUNS: list[AlertRun] = []


@pytest.fixture(scope="module")
def cluster(tool: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    with live_stack(
        tmp_path_factory.mktemp("faults"),
        tool("prometheus"),
        tool("prometheus-alertmanager"),
        replicas=REPLICAS,
        peers=PEERS,
        promtool=tool("promtool"),
    ) as stack:
        for prom in stack.prometheus:
            stack.wait_targets_up(prom)
        yield stack


@pytest.fixture(scope="module")
def report_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("latency") / "fault-alert-latency.json"


def make_healthy(stack: LiveStack) -> None:
    """Every process running, every participant active, the alert neither pending nor active."""
    stack.model.update(active=None)
    for am in stack.alertmanagers:
        if not am.process.alive:
            am.start()
    stack.wait_cluster_ready()
    for prom in stack.prometheus:
        if not prom.process.alive:
            prom.start()
        stack.wait_targets_up(prom)

    def quiet() -> bool:
        return not any(a["labels"]["alertname"] == ALERT for p in stack.prometheus for a in p.alerts()) and not any(
            a["labels"]["alertname"] == ALERT and a["status"]["state"] == "active"
            for am in stack.alertmanagers
            for a in am.alerts()
        )

    wait_until(quiet, 60, f"{ALERT} to be neither pending nor firing anywhere", stack.logs)


def notifying_peer(stack: LiveStack) -> Alertmanager:
    """The peer at cluster position 0 (lowest member name): the one that notifies without waiting."""
    return min(stack.alertmanagers, key=lambda am: am.status()["cluster"]["name"])


def wait_quiet(stack: LiveStack, since: float, timeout: float = 150.0) -> None:
    """Until no notification of ALERT arrived for QUIET seconds."""

    def quiet() -> bool:
        last = max(d.at for d in stack.webhook.notifications(ALERT, since=since))
        return time.time() - last >= QUIET

    wait_until(quiet, timeout, f"notifications of {ALERT} to stop", stack.logs)


def run_scenario(
    stack: LiveStack, scenario: str, fault: Callable[[], str], report_path: Path, capsys: pytest.CaptureFixture[str]
) -> AlertRun:
    """Participants fall to 1; `fault` strikes FAULT_AFTER seconds later; once the firing
    notification arrives they come back. The receiver gets exactly one firing and then exactly
    one resolved notification, each carrying the one alert, without the replica label."""
    hook = stack.webhook
    rule = alert_rule(stack.rules_dir, ALERT)
    floor = parse_duration(rule["for"]) + EVALUATION_INTERVAL + GROUP_WAIT

    start = time.time()
    stack.model.update(at=start, active=1)
    time.sleep(max(0.0, start + FAULT_AFTER - time.time()))
    note = fault()
    fired = hook.wait_for(ALERT, "firing", start, timeout=floor + 90, logs=stack.logs)
    stack.model.update(active=None)
    restored = time.time()
    resolved = hook.wait_for(ALERT, "resolved", restored, timeout=GROUP_INTERVAL + 40, logs=stack.logs)
    wait_quiet(stack, start)

    sent = hook.notifications(ALERT, since=start)
    timeline = [(round(d.at - start, 1), d.payload["status"], d.payload.get("externalURL")) for d in sent]
    detail = f"(seconds after start, status, sending peer): {timeline}; participants back at {restored - start:.1f}s"
    assert [d.payload["status"] for d in sent] == ["firing", "resolved"], f"{scenario}: {detail}"
    for delivery in sent:
        alerts = delivery.payload["alerts"]
        assert len(alerts) == 1, f"{scenario}: one notification carries {len(alerts)} alerts: {alerts}"
        assert "replica" not in alerts[0]["labels"], alerts[0]["labels"]
        assert alerts[0]["labels"]["environment"] == "dev"

    run = AlertRun(scenario, ALERT, start, fired.at, floor, restored, resolved.at, notes=note)
    RUNS.append(run)
    text = write_report(report_path, RUNS)
    with capsys.disabled():
        print(f"\n{scenario}: {detail}\nfault-alert-latency.json ({report_path}):\n{text}")
    assert run.latency >= parse_duration(rule["for"]), f"fired before its `for` elapsed: {run.as_dict()}"
    return run


@pytest.mark.timeout(420)
def test_alert_is_delivered_exactly_once_when_a_prometheus_replica_dies(
    cluster: LiveStack, report_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_healthy(cluster)
    victim = cluster.prometheus[0]

    def kill() -> str:
        victim.process.kill()
        return f"SIGKILL {victim.name} {FAULT_AFTER:g}s into the pending period; the other replica(s) fire"

    try:
        run_scenario(cluster, "one Prometheus replica killed", kill, report_path, capsys)
    finally:
        if not victim.process.alive:
            victim.start()  # the same data dir: the next scenarios have both replicas again


@pytest.mark.timeout(420)
def test_alert_is_delivered_exactly_once_when_an_alertmanager_peer_dies(
    cluster: LiveStack, report_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_healthy(cluster)
    victim = notifying_peer(cluster)

    def kill() -> str:
        victim.process.kill()
        return f"SIGKILL {victim.name}, the peer that would notify first, {FAULT_AFTER:g}s into the pending period"

    try:
        run_scenario(cluster, "one Alertmanager peer killed", kill, report_path, capsys)
    finally:
        if not victim.process.alive:
            victim.start()
            cluster.wait_cluster_ready()


@pytest.mark.timeout(300)
def test_a_restarted_prometheus_keeps_the_samples_written_before(cluster: LiveStack) -> None:
    """A crash (SIGKILL) and a clean stop (SIGTERM), each followed by a start on the same data
    dir: every sample written before is still there, and scraping goes on."""
    make_healthy(cluster)
    prom = cluster.prometheus[0]
    query = 'count_over_time(up{job=~"vega-.*"}[1h])'
    for how, stop in (("SIGKILL", prom.process.kill), ("SIGTERM", prom.process.stop)):
        at = math.floor(time.time()) - 1
        before = {tuple(sorted(r["metric"].items())): r["value"][1] for r in prom.query(query, at=at)}
        assert before and all(int(v) >= 10 for v in before.values()), before
        stop()
        prom.start()
        after = {tuple(sorted(r["metric"].items())): r["value"][1] for r in prom.query(query, at=at)}
        assert after == before, f"after {how} and a restart, samples before {at} differ: {before} -> {after}"
        cluster.wait_targets_up(prom)
        later = {tuple(sorted(r["metric"].items())): r["value"][1] for r in prom.query(query)}
        assert all(int(later[k]) > int(before[k]) for k in before), "no new samples after the restart"
