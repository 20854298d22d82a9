"""The "Vega 2.0 - Federated Learning" dashboard: training round progress, participant status,
health and performance, model accuracy, communication overhead and cross-silo status."""

from __future__ import annotations

from tools.dashboards_common import (
    AGGREGATION,
    FEDERATED_TITLE,
    FEDERATED_UID,
    HEALTH_STEPS,
    LOG_STREAM,
    OVERVIEW_TITLE,
    OVERVIEW_UID,
    PARTICIPANT,
    PARTICIPANT_BYTES,
    QUANTILES,
    SILO,
    SILO_ACCURACY_AVG,
    SILO_ACCURACY_MIN,
    SILO_BYTES,
    SILO_COUNT,
    SILO_ROUND_AVG,
    SILO_ROUND_MAX,
    SILO_UP,
    SILO_UP_RATIO,
    VEGA_LOGS,
    links_to,
)
from tools.dashboards_panels import (
    LOKI,
    UP_DOWN,
    Column,
    Json,
    Row,
    bargauge,
    dashboard,
    explore_url,
    logs,
    loki_variable,
    prom,
    prom_variable,
    stat,
    status_history,
    table,
    thresholds,
    timeseries,
)


def _federated_variables() -> list[Json]:
    return [
        prom_variable(
            "silo", "Silo", "Organisation whose data a participant trains on", "federated_participant_up", "silo"
        ),
        prom_variable(
            "participant",
            "Participant",
            "Participants of the selected silos",
            f"federated_participant_up{{{SILO}}}",
            "participant_id",
        ),
        loki_variable("level", "Log level", "The `level` field of Vega's logs", VEGA_LOGS, "level"),
        loki_variable("module", "Log module", "The `module` field of Vega's logs", VEGA_LOGS, "module"),
    ]


def _federated_summary() -> Row:
    healthy = f"sum({SILO_UP}{{{SILO}}}) / sum({SILO_COUNT}{{{SILO}}})"
    return Row(
        "Federation status",
        [
            stat(
                "Training round",
                "Number of the current training round.",
                [prom("max(federated_round_current)")],
                "short",
            ),
            stat(
                "Global model accuracy",
                "Accuracy of the global model after the last aggregation.",
                [prom("max(federated_model_accuracy)")],
                "percentunit",
            ),
            stat(
                "Active participants",
                "Participants taking part in the current round.",
                [prom("sum(federated_participants_active)")],
                "short",
            ),
            stat(
                "Registered participants",
                "Participants registered with the coordinator.",
                [prom("sum(federated_participants_total)")],
                "short",
            ),
            stat(
                "Healthy participants",
                "Share of the selected silos' participants that are connected and healthy.",
                [prom(healthy)],
                "percentunit",
                steps=HEALTH_STEPS,
            ),
            stat(
                "Silos taking part",
                "Silos with at least one healthy participant, and all known silos.",
                [
                    prom(f"count({SILO_UP}{{{SILO}}} > 0)", "taking part"),
                    prom(f"count({SILO_COUNT}{{{SILO}}})", "known"),
                ],
                "short",
            ),
        ],
    )


def _federated_rounds() -> Row:
    return Row(
        "Training round progress",
        [
            timeseries(
                "Training round over time",
                "Number of the current training round over time.",
                [prom("max(federated_round_current)", "round")],
                "short",
                w=8,
            ),
            timeseries(
                "Rounds aggregated per hour",
                "Aggregations completed, as a rate per hour.",
                [prom("sum(rate(federated_aggregation_duration_seconds_count[$__rate_interval])) * 3600", "rounds/h")],
                "short",
                w=8,
            ),
            timeseries(
                "Aggregation duration p50 / p95 / p99",
                "Time to aggregate one round's updates.",
                [prom(AGGREGATION.format(q=name), name) for name, _ in QUANTILES],
                "s",
                w=8,
            ),
        ],
    )


def _federated_participants() -> Row:
    participant_logs = explore_url(
        LOKI, {"expr": VEGA_LOGS + ' | participant_id="${__value.raw}" | json'}, "${__from}", "${__to}"
    )
    return Row(
        "Participant status",
        [
            timeseries(
                "Active and registered participants",
                "Participants in the current round against those registered.",
                [
                    prom("sum(federated_participants_active)", "active"),
                    prom("sum(federated_participants_total)", "registered"),
                ],
                "short",
            ),
            timeseries(
                "Healthy participants by silo",
                "Connected and healthy participants per silo, stacked.",
                [prom(f"{SILO_UP}{{{SILO}}}", "{{silo}}")],
                "short",
                stack=True,
            ),
            table(
                "Participants",
                "Every selected participant, unhealthy ones first; a participant ID opens its logs.",
                [
                    prom(f"federated_participant_up{{{PARTICIPANT}}}"),
                    prom(f"federated_participant_accuracy{{{PARTICIPANT}}}"),
                    prom(f"federated_participant_round_duration_seconds{{{PARTICIPANT}}}"),
                    prom(f"{PARTICIPANT_BYTES}{{{PARTICIPANT}}}"),
                ],
                [
                    Column("Status", "short", mappings=UP_DOWN, steps=thresholds(("red", None), ("green", 1))),
                    Column("Local accuracy", "percentunit"),
                    Column("Last round duration", "s"),
                    Column("Bytes sent/s", "Bps"),
                ],
                hide=("Time", "__name__", "job", "instance"),
                sort_by="Status",
                links={"participant_id": [{"title": "Logs of ${__value.raw}", "url": participant_logs}]},
                w=24,
                h=10,
            ),
        ],
    )


def _federated_performance() -> Row:
    return Row(
        "Participant health and performance",
        [
            timeseries(
                "Mean local round duration by silo",
                "Average local training time of the last round.",
                [prom(f"{SILO_ROUND_AVG}{{{SILO}}}", "{{silo}}")],
                "s",
            ),
            timeseries(
                "Slowest local round duration by silo",
                "Longest local training time of the last round.",
                [prom(f"{SILO_ROUND_MAX}{{{SILO}}}", "{{silo}}")],
                "s",
            ),
            timeseries(
                "Unhealthy participants by silo",
                "Registered participants that are not connected and healthy.",
                [prom(f"{SILO_COUNT}{{{SILO}}} - {SILO_UP}{{{SILO}}}", "{{silo}}")],
                "short",
            ),
            table(
                "Slowest 10 participants",
                "Longest local training time in the last round.",
                [prom(f"topk(10, federated_participant_round_duration_seconds{{{PARTICIPANT}}})")],
                [Column("Last round duration", "s")],
                hide=("Time", "__name__", "job", "instance"),
                sort_by="Last round duration",
                descending=True,
            ),
        ],
    )


def _federated_accuracy() -> Row:
    return Row(
        "Model accuracy",
        [
            timeseries(
                "Global model accuracy over time",
                "Accuracy of the global model after each aggregation.",
                [prom("max(federated_model_accuracy)", "global model")],
                "percentunit",
                max_value=1,
            ),
            timeseries(
                "Local model accuracy by silo",
                "Mean and lowest accuracy of the participants' local models per silo.",
                [
                    prom(f"{SILO_ACCURACY_AVG}{{{SILO}}}", "{{silo}} mean"),
                    prom(f"{SILO_ACCURACY_MIN}{{{SILO}}}", "{{silo}} lowest"),
                ],
                "percentunit",
                max_value=1,
            ),
            bargauge(
                "Mean local accuracy by silo",
                "Mean accuracy of each silo's local models, now.",
                [prom(f"{SILO_ACCURACY_AVG}{{{SILO}}}", "{{silo}}", instant=True)],
                "percentunit",
                steps=HEALTH_STEPS,
                max_value=1,
            ),
            table(
                "Lowest local accuracy: 10 participants",
                "Participants whose local model scored lowest.",
                [prom(f"bottomk(10, federated_participant_accuracy{{{PARTICIPANT}}})")],
                [Column("Local accuracy", "percentunit")],
                hide=("Time", "__name__", "job", "instance"),
                sort_by="Local accuracy",
            ),
        ],
    )


def _federated_communication() -> Row:
    per_round = f"sum({SILO_BYTES}) / (sum(rate(federated_aggregation_duration_seconds_count[$__rate_interval])) > 0)"
    return Row(
        "Communication overhead",
        [
            timeseries(
                "Bytes sent per second by silo",
                "What the coordinator sends to each silo's participants, stacked.",
                [prom(f"{SILO_BYTES}{{{SILO}}}", "{{silo}}")],
                "Bps",
                stack=True,
            ),
            timeseries(
                "Bytes sent per round",
                "Federation-wide bytes sent per aggregated round.",
                [prom(per_round, "per round")],
                "bytes",
                w=6,
            ),
            timeseries(
                "Bytes sent per active participant",
                "Federation-wide bytes per second sent per participant taking part in the round.",
                [prom(f"sum({SILO_BYTES}) / sum(federated_participants_active)", "per participant")],
                "Bps",
                w=6,
            ),
            table(
                "Top 10 participants by bytes sent",
                "Participants receiving the most data from the coordinator.",
                [prom(f"topk(10, {PARTICIPANT_BYTES}{{{PARTICIPANT}}})")],
                [Column("Bytes sent/s", "Bps")],
                hide=("Time", "__name__"),
                sort_by="Bytes sent/s",
                descending=True,
                w=24,
            ),
        ],
    )


def _federated_silos() -> Row:
    silo = f"{{{SILO}}}"
    return Row(
        "Cross-silo federation status",
        [
            table(
                "Silos",
                "Per silo: healthy and registered participants, local accuracy and round time, traffic.",
                [
                    prom(SILO_UP_RATIO + silo),
                    prom(SILO_UP + silo),
                    prom(SILO_COUNT + silo),
                    prom(SILO_ACCURACY_AVG + silo),
                    prom(SILO_ROUND_AVG + silo),
                    prom(SILO_BYTES + silo),
                ],
                [
                    Column("Healthy", "percentunit", steps=HEALTH_STEPS),
                    Column("Healthy participants", "short"),
                    Column("Registered participants", "short"),
                    Column("Mean local accuracy", "percentunit"),
                    Column("Mean round duration", "s"),
                    Column("Bytes sent/s", "Bps"),
                ],
                hide=("Time", "__name__"),
                sort_by="Healthy",
                w=24,
            ),
            status_history(
                "Silo health over time",
                "Share of each silo's participants that are healthy.",
                [prom(SILO_UP_RATIO + silo, "{{silo}}")],
                "percentunit",
                steps=HEALTH_STEPS,
            ),
        ],
    )


def _federated_logs() -> Row:
    return Row(
        "Logs",
        [
            logs(
                "Federated learning logs",
                "Vega's logs of the selected participants (and lines naming none).",
                LOG_STREAM + ' | participant_id=~"$participant" | json',
            ),
        ],
    )


def federated_learning() -> Json:
    return dashboard(
        uid=FEDERATED_UID,
        title=FEDERATED_TITLE,
        description="Training rounds, participant health and performance, model accuracy, communication "
        "overhead and cross-silo status of Vega 2.0's federation.",
        variables=_federated_variables(),
        links=links_to(OVERVIEW_UID, OVERVIEW_TITLE),
        rows=[
            _federated_summary(),
            _federated_rounds(),
            _federated_participants(),
            _federated_performance(),
            _federated_accuracy(),
            _federated_communication(),
            _federated_silos(),
            _federated_logs(),
        ],
    )
