"""Synthetic history for the benchmark: raw series from the synthetic Vega as TSDB blocks, and
the rule file that backfills the recorded series from them.

Raw series. `promtool tsdb create-blocks-from openmetrics` (2.42) reads its whole input once
per two-hour block it writes, so a day of history in one file would be parsed thirteen times.
The history is therefore cut at the two-hour boundaries promtool aligns its blocks to, one
OpenMetrics file per window, each turned into exactly one block and deleted; the windows are
built by parallel worker processes. Every sample is the model's value at that time, with the
`job` and `instance` labels a scrape adds (`instance="<target>:synthetic"`, as
`SyntheticVega.backfill` writes them) and the `up` series a scrape records.

Recorded series. `promtool tsdb create-blocks-from rules` evaluates each rule with a range
query against a running Prometheus, but a rule that reads another recorded series would read
series that do not exist yet for the past. Each rule is therefore backfilled with its
expression inlined down to raw series (`bench_promql.inline`), which yields the values the
rule would have recorded; all of them sit in one group, so they share one evaluation grid.
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.promql import Rules, inline_rule
from demo.vega import TARGETS, Scenario, SyntheticVega

BLOCK_SECONDS = 2 * 3600  # promtool's block duration (tsdb.DefaultBlockDuration)


@dataclass(frozen=True)
class History:
    """`start` <= t < `end`, one scrape of every target each `step` seconds."""

    scenario: Scenario
    start: float
    end: float
    step: float = 15.0
    targets: tuple[str, ...] = TARGETS

    def model(self) -> SyntheticVega:
        # Counters start at zero when the history starts; the same model (same start) serves
        # the live scrapes afterwards, so the series continue without a reset.
        return SyntheticVega(self.scenario, start=self.start)

    def times(self, start: float, end: float) -> Iterator[float]:
        """Scrape times of the history within [start, end)."""
        first = self.start + math.ceil((max(start, self.start) - self.start) / self.step) * self.step
        t = first
        while t < min(end, self.end):
            yield t
            t += self.step

    def windows(self) -> list[tuple[float, float]]:
        """The history cut at promtool's block boundaries."""
        out = []
        edge = math.floor(self.start / BLOCK_SECONDS) * BLOCK_SECONDS
        while edge < self.end:
            lo, hi = max(edge, self.start), min(edge + BLOCK_SECONDS, self.end)
            if any(True for _ in self.times(lo, hi)):
                out.append((lo, hi))
            edge += BLOCK_SECONDS
        return out


class OpenMetricsWriter:
    """Backfill lines of one model. The label text of each series is built once: a target
    exposes the same series in the same order at every scrape of a steady scenario, so the
    text is kept by position and rebuilt only where a series differs from the last scrape."""

    def __init__(self, model: SyntheticVega, targets: Sequence[str]):
        self.model = model
        self.targets = list(targets)
        self._keys: dict[str, list[tuple[str, tuple[tuple[str, str], ...]]]] = {t: [] for t in self.targets}
        self._prefixes: dict[str, list[str]] = {t: [] for t in self.targets}

    @staticmethod
    def _prefix(target: str, name: str, labels: tuple[tuple[str, str], ...]) -> str:
        scrape = (("instance", f"{target}:synthetic"), ("job", target))
        body = ",".join(f'{k}="{_escape(v)}"' for k, v in (*labels, *scrape))
        return f"{name}{{{body}}} "

    def lines(self, t: float) -> list[str]:
        """Every sample of every target at time `t`, stamped (seconds), and `up`."""
        stamp = f" {_number(t)}"
        out = []
        for target in self.targets:
            keys, prefixes = self._keys[target], self._prefixes[target]
            i = 0
            for family in self.model.families(target, t):
                for sample in family.samples:
                    key = (family.name + sample.suffix, sample.labels)
                    if i == len(keys):
                        keys.append(key)
                        prefixes.append(self._prefix(target, *key))
                    elif keys[i] != key:
                        keys[i] = key
                        prefixes[i] = self._prefix(target, *key)
                    out.append(prefixes[i] + _number(sample.value) + stamp)
                    i += 1
            out.append(self._prefix(target, "up", ()) + "1" + stamp)
        return out

    def write(self, path: Path, times: Iterable[float]) -> int:
        """Write an OpenMetrics file of the samples at `times`; returns the number of samples."""
        count = 0
        with path.open("w") as out:
            for t in times:
                lines = self.lines(t)
                count += len(lines)
                out.write("\n".join(lines))
                out.write("\n")
            out.write("# EOF\n")
        return count


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(value) if type(value) is float else str(value)


@dataclass(frozen=True)
class WindowResult:
    start: float
    end: float
    samples: int
    generate_seconds: float
    promtool_seconds: float


def build_window(
    history: History, window: tuple[float, float], promtool: str, work: Path, out_dir: Path
) -> WindowResult:
    """One window of history -> one OpenMetrics file -> one TSDB block in `out_dir`."""
    lo, hi = window
    path = work / f"history-{int(lo)}.om"
    began = time.monotonic()
    try:
        samples = OpenMetricsWriter(history.model(), history.targets).write(path, history.times(lo, hi))
        generated = time.monotonic()
        result = subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(path), str(out_dir)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"promtool openmetrics backfill of {path.name} failed:\n{result.stdout}{result.stderr}")
    finally:
        path.unlink(missing_ok=True)
    return WindowResult(lo, hi, samples, generated - began, time.monotonic() - generated)


def build_history(
    history: History, promtool: str, work: Path, out_dir: Path, jobs: int | None = None
) -> list[WindowResult]:
    """Every window of `history` as a TSDB block in `out_dir`, `jobs` windows at a time."""
    work.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    windows = history.windows()
    workers = max(1, min(jobs or os.cpu_count() or 1, len(windows)))
    if workers == 1:
        return [build_window(history, w, promtool, work, out_dir) for w in windows]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(build_window, history, w, promtool, work, out_dir) for w in windows]
        return [f.result() for f in futures]


def rule_backfill_file(rules: Rules, names: Iterable[str], interval: str, path: Path) -> list[str]:
    """Write a rule file recording each of `names` from raw series only; returns the names."""
    chosen = sorted(set(names))
    entries = []
    for name in chosen:
        for rule in rules[name]:
            entry: dict[str, object] = {"record": name, "expr": inline_rule(rule, rules)}
            if rule.labels:
                entry["labels"] = dict(rule.labels)
            entries.append(entry)
    doc = {"groups": [{"name": "bench-backfill", "interval": interval, "rules": entries}]}
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    return chosen


def set_group_interval(rules_dir: Path, names: Iterable[str], interval: str) -> list[str]:
    """Give every rule group in `rules_dir` that records one of `names` the evaluation
    `interval`; returns the groups changed (as file:group)."""
    wanted = set(names)
    changed = []
    for path in sorted(rules_dir.glob("*.yml")):
        doc = yaml.safe_load(path.read_text()) or {}
        touched = False
        for group in doc.get("groups") or []:
            if any(rule.get("record") in wanted for rule in group.get("rules") or []):
                group["interval"] = interval
                changed.append(f"{path.name}:{group['name']}")
                touched = True
        if touched:
            path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1000))
    return changed


def split_at_blocks(start: float, end: float, parts: int) -> list[tuple[int, int]]:
    """[start, end] cut into at most `parts` contiguous ranges at block boundaries, as
    inclusive whole seconds (promtool's --start and --end)."""
    edges = [int(start)]
    edge = (math.floor(start / BLOCK_SECONDS) + 1) * BLOCK_SECONDS
    while edge < end:
        edges.append(edge)
        edge += BLOCK_SECONDS
    blocks = len(edges)
    count = max(1, min(parts, blocks))
    chosen = [edges[round(i * blocks / count)] for i in range(count)]
    bounds = [*chosen[1:], int(end) + 1]
    return [(lo, hi - 1) for lo, hi in zip(chosen, bounds, strict=True)]


def backfill_rules(
    promtool: str, rule_file: Path, url: str, start: float, end: float, out_dir: Path, jobs: int = 1
) -> float:
    """`promtool tsdb create-blocks-from rules` over [start, end], `jobs` processes each
    taking a contiguous part of the range (the same rule file, so the same evaluation
    timestamps); returns the duration. Each part writes its blocks under out_dir/part-<n>."""
    began = time.monotonic()
    procs: list[tuple[subprocess.Popen[str], Path]] = []
    try:
        for n, (lo, hi) in enumerate(split_at_blocks(start, end, jobs)):
            part = out_dir / f"part-{n}"
            part.mkdir(parents=True, exist_ok=True)
            argv = [
                promtool, "tsdb", "create-blocks-from", "rules", "--quiet",
                f"--url={url}", f"--start={lo}", f"--end={hi}", f"--output-dir={part}", str(rule_file),
            ]  # fmt: skip
            log = part.with_suffix(".log")
            with log.open("w") as out:
                procs.append((subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True), log))
        for proc, log in procs:
            if proc.wait(timeout=900) != 0:
                raise RuntimeError(f"promtool rules backfill failed:\n{log.read_text()[-2000:]}")
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    return time.monotonic() - began
