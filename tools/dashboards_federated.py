"""The "Vega 2.0 - Federated Learning" dashboard: training round progress, participant status,
health and performance, model accuracy, communication overhead and cross-silo status."""

from __future__ import annotations

from tools.dashboards_common import (
    AGGREGATION,
    FEDERATED_TITLE,
    FEDERATED_UID,
    FEDERATION_ALERTS,
    HEALTH_STEPS,
    LOG_STREAM,
    OVERVIEW_TITLE,
    OVERVIEW_UID,
    PARTICIPANT,
    PARTICIPANT_BYTES,
    QUANTILES,
    SEED_ACTIVE,
    SEED_BYTES,
    SEED_TAKING_PART,
    SEED_TOTAL,
    SILO,
    SILO_ACCURACY_AVG,
    SILO_ACCURACY_MIN,
    SILO_BYTES,
    SILO_COUNT,
    SILO_ROUND_AVG,
    SILO_UP,
    SILO_UP_RATIO,
    VEGA_LOGS,
    alerts_firing,
    alerts_panel,
    federation_fallback,
    links_to,
    needs,
    or_federation,
)
from tools.dashboards_panels import (
    LOKI,
    UP_DOWN,
    AlertMarks,
    Column,
    Json,
    Row,
    dashboard,
    explore_url,
    logs,
    loki_variable,
    no_data,
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
            "silo",
            "Silo",
            "Organisation whose data a participant trains on (extended contract of docs/metrics.md)",
            "federated_participant_up",
            "silo",
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
                [prom(SEED_ACTIVE)],
                "short",
            ),
            stat(
                "Registered participants",
                "Participants registered with the coordinator.",
                [prom(SEED_TOTAL)],
                "short",
            ),
            stat(
                "Participants taking part",
                "Share of the registered participants taking part in the current round "
                "(federated_participants_active / federated_participants_total).",
                [prom(SEED_TAKING_PART)],
                "percentunit",
                steps=HEALTH_STEPS,
            ),
        ],
    )


def _federated_alerts() -> Row:
    return Row(
        "Alerts",
        [
            alerts_firing(FEDERATION_ALERTS, "federation alerts (Federated*)"),
            alerts_panel(FEDERATION_ALERTS, "The federation's alerts (Federated*) firing now"),
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
    extended, empty = needs(
        "`federated_participant_up`, `federated_participant_accuracy`, "
        "`federated_participant_round_duration_seconds` and `federated_bytes_sent_total`, "
        "each by `participant_id` and `silo`"
    )
    return Row(
        "Participant status",
        [
            timeseries(
                "Active and registered participants",
                "Participants in the current round against those registered.",
                [prom(SEED_ACTIVE, "active"), prom(SEED_TOTAL, "registered")],
                "short",
            ),
            timeseries(
                "Healthy participants by silo",
                "Connected and healthy participants per silo, stacked."
                + federation_fallback("the participants taking part in the round"),
                [prom(or_federation(f"{SILO_UP}{{{SILO}}}", SEED_ACTIVE), "{{silo}}")],
                "short",
                stack=True,
            ),
            no_data(
                table(
                    "Participants",
                    "Every selected participant, unhealthy ones first; sort by a column for the slowest or "
                    "least accurate; a participant ID opens its logs." + extended,
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
                empty,
            ),
        ],
    )


def _federated_performance() -> Row:
    extended, empty = needs("`federated_participant_round_duration_seconds` with its `silo` label")
    return Row(
        "Participant health and performance",
        [
            timeseries(
                "Unhealthy participants by silo",
                "Registered participants that are not connected and healthy."
                + federation_fallback("the registered participants not taking part in the round"),
                [
                    prom(
                        or_federation(f"{SILO_COUNT}{{{SILO}}} - {SILO_UP}{{{SILO}}}", f"{SEED_TOTAL} - {SEED_ACTIVE}"),
                        "{{silo}}",
                    )
                ],
                "short",
            ),
            no_data(
                timeseries(
                    "Mean local round duration by silo",
                    "Average local training time of the last round; the Participants table sorts out the slowest."
                    + extended,
                    [prom(f"{SILO_ROUND_AVG}{{{SILO}}}", "{{silo}}")],
                    "s",
                ),
                empty,
            ),
        ],
    )


def _federated_accuracy() -> Row:
    extended, empty = needs("`federated_participant_accuracy` with its `silo` label")
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
            no_data(
                timeseries(
                    "Local model accuracy by silo",
                    "Mean and lowest accuracy of the participants' local models per silo." + extended,
                    [
                        prom(f"{SILO_ACCURACY_AVG}{{{SILO}}}", "{{silo}} mean"),
                        prom(f"{SILO_ACCURACY_MIN}{{{SILO}}}", "{{silo}} lowest"),
                    ],
                    "percentunit",
                    max_value=1,
                ),
                empty,
            ),
        ],
    )


def _federated_communication() -> Row:
    per_round = f"sum({SEED_BYTES}) / (sum(rate(federated_aggregation_duration_seconds_count[$__rate_interval])) > 0)"
    return Row(
        "Communication overhead",
        [
            timeseries(
                "Bytes sent per second by silo",
                "What the coordinator sends to each silo's participants, stacked."
                + federation_fallback("the bytes sent"),
                [prom(or_federation(f"{SILO_BYTES}{{{SILO}}}", f"sum({SEED_BYTES})"), "{{silo}}")],
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
                "Federation-wide bytes per second sent per participant taking part in the round "
                "(federated_bytes_sent_total / federated_participants_active).",
                [prom(f"sum({SEED_BYTES}) / ({SEED_ACTIVE} > 0)", "per participant")],
                "Bps",
                w=6,
            ),
        ],
    )


def _federated_silos() -> Row:
    silo = f"{{{SILO}}}"
    fallback = federation_fallback("one row")
    return Row(
        "Cross-silo federation status",
        [
            table(
                "Silos",
                "Per silo: share of healthy participants, healthy and registered participants, traffic; "
                "local accuracy and round time per silo are in their rows above." + fallback,
                [
                    prom(or_federation(SILO_UP_RATIO + silo, SEED_TAKING_PART)),
                    prom(or_federation(SILO_UP + silo, SEED_ACTIVE)),
                    prom(or_federation(SILO_COUNT + silo, SEED_TOTAL)),
                    prom(or_federation(SILO_BYTES + silo, f"sum({SEED_BYTES})")),
                ],
                [
                    Column("Healthy", "percentunit", steps=HEALTH_STEPS),
                    Column("Healthy participants", "short"),
                    Column("Registered participants", "short"),
                    Column("Bytes sent/s", "Bps"),
                ],
                hide=("Time", "__name__"),
                sort_by="Healthy",
                w=24,
            ),
            status_history(
                "Silo health over time",
                "Share of each silo's participants that are healthy."
                + federation_fallback("the share of participants taking part"),
                [prom(or_federation(SILO_UP_RATIO + silo, SEED_TAKING_PART), "{{silo}}")],
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
            _federated_alerts(),
            _federated_rounds(),
            _federated_participants(),
            _federated_performance(),
            _federated_accuracy(),
            _federated_communication(),
            _federated_silos(),
            _federated_logs(),
        ],
        alert_marks=(
            AlertMarks(
                "Federation alerts: rounds",
                'alertname=~"FederatedRoundStalled|FederatedAggregationSlow"',
                ("Training round over time", "Rounds aggregated per hour", "Aggregation duration p50 / p95 / p99"),
            ),
            AlertMarks(
                "Federation alerts: participants",
                'alertname=~"FederatedParticipantDown|FederatedParticipantChurn"',
                (
                    "Active and registered participants",
                    "Healthy participants by silo",
                    "Unhealthy participants by silo",
                ),
            ),
            AlertMarks(
                "Federation alerts: accuracy",
                'alertname="FederatedAccuracyRegression"',
                ("Global model accuracy over time",),
            ),
            AlertMarks(
                "Federation alerts: communication",
                'alertname="FederatedCommunicationSpike"',
                ("Bytes sent per second by silo", "Bytes sent per round", "Bytes sent per active participant"),
            ),
        ),
    )
