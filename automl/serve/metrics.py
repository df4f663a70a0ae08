"""``GET /metrics``: the service's counters in the Prometheus text format (written here, no dependency).

Requests by route, method and status, errors (answers of status 400 or more), rows predicted by model, a
latency histogram by route, and the drift verdict of :func:`automl.serve.monitor.monitor_service` as a gauge,
computed from the request log at most every :data:`DRIFT_SECONDS` seconds so that scraping stays cheap.

Several server processes (``automl serve --workers N``) each count their own requests; with a ``share``
folder, each writes its counts there about every second and ``/metrics`` adds up every process's, so a scrape
that reaches any of them sees the whole service (the other processes' counts up to a second old).
"""
from __future__ import annotations

import json
import os
import threading
import time
from bisect import bisect_left
from pathlib import Path
from typing import Any, Callable

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)  # seconds
DRIFT_SECONDS = 30.0  # the drift verdict is recomputed at most this often
SHARE_SECONDS = 1.0  # how often a process writes its counts to the share folder

Labels = tuple[str, ...]


class Metrics:
    """The counters of one server process.

    Parameters
    ----------
    share : Path, optional
        Folder where the processes of one service write their counts (see the module's docstring).
    """

    def __init__(self, share: Path | None = None):
        self._lock = threading.Lock()
        self.requests: dict[Labels, int] = {}  # (route, method, status)
        self.rows: dict[Labels, int] = {}  # (model,)
        self.latency: dict[Labels, list[float]] = {}  # (route,) -> bucket counts, then +Inf count and sum
        self.share = share
        self._changed = False
        if share is not None:
            threading.Thread(target=self._share_loop, name="automl-metrics", daemon=True).start()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        with self._lock:
            key = (route, method, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            counts = self.latency.setdefault((route,), [0.0] * (len(BUCKETS) + 2))
            counts[bisect_left(BUCKETS, seconds)] += 1  # bucket le=b counts seconds <= b; cumulated on output
            counts[-1] += seconds
            self._changed = True

    def count_rows(self, model: str, rows: int) -> None:
        """Count ``rows`` predicted by ``model``."""
        with self._lock:
            self.rows[(model,)] = self.rows.get((model,), 0) + rows
            self._changed = True

    def snapshot(self) -> dict[str, dict[Labels, Any]]:
        """A copy of the counts."""
        with self._lock:
            return {"requests": dict(self.requests), "rows": dict(self.rows),
                    "latency": {k: list(v) for k, v in self.latency.items()}}

    def totals(self) -> dict[str, dict[Labels, Any]]:
        """The counts of every process of the service (this one only without a share folder)."""
        total = self.snapshot()
        if self.share is None:
            return total
        mine = self._share_file().name
        for path in self.share.glob("metrics-*.json"):
            if path.name != mine:
                _add(total, _read_share(path))
        return total

    def render(self, extra: list[str] | None = None) -> str:
        """Every metric in the Prometheus text format (version 0.0.4), then the ``extra`` lines."""
        return "\n".join(prometheus_lines(self.totals()) + (extra or [])) + "\n"

    def _share_file(self) -> Path:
        assert self.share is not None
        return self.share / f"metrics-{os.getpid()}.json"

    def _share_loop(self) -> None:
        while True:
            time.sleep(SHARE_SECONDS)
            with self._lock:
                changed, self._changed = self._changed, False
            if changed:
                self.write_share()

    def write_share(self) -> None:
        """Write this process's counts to the share folder (atomically: a reader sees the old or the new)."""
        data = {kind: [[list(k), v] for k, v in values.items()] for kind, values in self.snapshot().items()}
        path = self._share_file()
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data))
        os.replace(temporary, path)


def _read_share(path: Path) -> dict[str, dict[Labels, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):  # a process's file is being replaced or is gone: its counts are skipped
        return {}
    return {kind: {tuple(k): v for k, v in pairs} for kind, pairs in data.items()}


def _add(total: dict[str, dict[Labels, Any]], other: dict[str, dict[Labels, Any]]) -> None:
    for kind, values in other.items():
        into = total.setdefault(kind, {})
        for key, value in values.items():
            if isinstance(value, list):
                into[key] = [a + b for a, b in zip(into.get(key, [0.0] * len(value)), value)]
            else:
                into[key] = into.get(key, 0) + value


def prometheus_lines(totals: dict[str, dict[Labels, Any]]) -> list[str]:
    """The counters and the latency histogram as Prometheus text lines."""
    requests, rows, latency = totals.get("requests", {}), totals.get("rows", {}), totals.get("latency", {})
    lines = ["# HELP automl_requests_total HTTP requests answered, by route, method and status code.",
             "# TYPE automl_requests_total counter"]
    lines += [f"automl_requests_total{_labels(route=r, method=m, status=s)} {n}"
              for (r, m, s), n in sorted(requests.items())]
    lines += ["# HELP automl_request_errors_total Requests answered with a status of 400 or more (refused "
              "payloads, missing token, failures), by route and status code.",
              "# TYPE automl_request_errors_total counter"]
    errors: dict[tuple[str, str], int] = {}
    for (route, _, status), n in requests.items():
        if int(status) >= 400:
            errors[(route, status)] = errors.get((route, status), 0) + n
    lines += [f"automl_request_errors_total{_labels(route=r, status=s)} {n}" for (r, s), n in sorted(errors.items())]
    lines += ["# HELP automl_rows_predicted_total Rows predicted, by model ('a', or 'b': the challenger).",
              "# TYPE automl_rows_predicted_total counter"]
    lines += [f"automl_rows_predicted_total{_labels(model=m)} {n}" for (m,), n in sorted(rows.items())]
    lines += ["# HELP automl_request_duration_seconds Time from a request's arrival to its answer, by route.",
              "# TYPE automl_request_duration_seconds histogram"]
    for (route,), counts in sorted(latency.items()):
        cumulated = 0.0
        for bound, count in zip([*map(str, BUCKETS), "+Inf"], counts[:-1]):
            cumulated += count
            lines.append(f"automl_request_duration_seconds_bucket{_labels(route=route, le=bound)} {cumulated:g}")
        lines.append(f"automl_request_duration_seconds_sum{_labels(route=route)} {counts[-1]:.6f}")
        lines.append(f"automl_request_duration_seconds_count{_labels(route=route)} {cumulated:g}")
    return lines


def gauge(name: str, help_text: str, values: list[tuple[dict[str, str], float]]) -> list[str]:
    """Prometheus text lines of a gauge with one value per label set."""
    return [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"] + \
        [f"{name}{_labels(**labels)} {value:g}" for labels, value in values]


def _labels(**labels: str) -> str:
    escaped = (f'{k}="{_escape(v)}"' for k, v in labels.items())
    return "{" + ",".join(escaped) + "}"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class DriftGauge:
    """The drift verdict of a running service, recomputed from its request log at most every ``seconds``.

    Parameters
    ----------
    compute : callable
        Returns the monitor report (:func:`automl.serve.monitor.monitor_service`), or raises.
    seconds : float
        Longest time a verdict is reused.
    """

    def __init__(self, compute: Callable[[], dict[str, Any]], seconds: float = DRIFT_SECONDS):
        self._compute = compute
        self.seconds = seconds
        self._lock = threading.Lock()
        self._at = -float("inf")
        self._lines: list[str] = []

    def lines(self) -> list[str]:
        """The gauges' Prometheus lines (a comment instead when there is no verdict)."""
        with self._lock:  # one computation at a time; scrapes in between wait for it and reuse it
            if time.monotonic() - self._at >= self.seconds:
                self._lines = self._evaluate()
                self._at = time.monotonic()
            return self._lines

    def _evaluate(self) -> list[str]:
        try:
            report = self._compute()
        except Exception as exc:  # noqa: BLE001 - no log, no profile: said in the output, never a failed scrape
            message = str(exc).replace("\n", " ")
            return [f"# automl_drift_retrain: no verdict ({message})"]
        model = {"model": "a"}
        return gauge("automl_drift_retrain", "1 when the request log has drifted from the training data beyond "
                     "the monitor's thresholds (retrain), else 0; recomputed at most every "
                     f"{self.seconds:g} s.", [(model, float(report["retrain"]))]) + \
            gauge("automl_drift_rows", "Logged rows the drift verdict was computed on.",
                  [(model, float(report["rows"]))]) + \
            gauge("automl_drift_drifted_features", "Features whose drift crosses a threshold.",
                  [(model, float(len(report["drifted_features"])))])
