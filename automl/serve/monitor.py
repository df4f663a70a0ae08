"""Drift of live data against the training profile, read from the service's request log.

Per feature: the population stability index (PSI) over the profile's bins (numbers) or top categories
(with an "other" bucket), and for continuous numbers (no repeated percentile) a one-sample Kolmogorov-Smirnov test against the
training CDF (the profile's percentiles). The distribution of the predictions is compared with the training
target the same way, and when labels are given the live score with the validation score. A threshold
crossed anywhere gives the ``retrain`` signal.

Thresholds (:data:`THRESHOLDS`): PSI >= 0.2 is the usual "significant shift"; the KS test flags when its
p-value is below 0.001 *and* its statistic is at least 0.1, so that large samples do not flag shifts too
small to matter; fewer than 50 logged rows give no verdict.

A model fitted with related tables or on series logs, per prediction, the synthesised columns it reads
(``features``): those are what its training profile describes, so they are checked (with the target table's own
modelled columns, which DFS passes through), and the live score is computed from them, as the request's related
rows or readings are not logged. A series model's labels may be joined on its series id column.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sstats

THRESHOLDS = {"psi": 0.2, "ks_pvalue": 0.001, "ks_statistic": 0.1, "min_rows": 50,
              "score_drop": 0.05}  # score_drop: relative loss of the live score vs the validation score
EPS = 1e-4


def psi(expected: Any, actual: Any) -> float:
    """Population stability index between two vectors of bucket fractions."""
    e = np.clip(np.asarray(expected, dtype=float), EPS, None)
    a = np.clip(np.asarray(actual, dtype=float), EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_drift(stats: dict[str, Any], values: pd.Series) -> dict[str, Any]:
    """PSI over the profile's quantile bins, and the KS test against its percentiles."""
    live = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    live = live[np.isfinite(live)]
    out: dict[str, Any] = {"n": int(live.size), "psi": None, "ks_statistic": None, "ks_pvalue": None,
                           "mean": float(live.mean()) if live.size else None, "train_mean": stats.get("mean")}
    bins = stats.get("bins")
    if not live.size or not bins:
        return out
    counts = np.histogram(live, bins=np.asarray(bins["edges"], dtype=float))[0]
    out["psi"] = psi(bins["fractions"], counts / live.size)
    quantiles = np.asarray(stats.get("quantiles") or [], dtype=float)
    # The KS test assumes a continuous distribution: repeated percentiles mean values with a mass of 1% or
    # more (counts, ratings), against which the interpolated CDF is wrong. Those columns get PSI only.
    if quantiles.size > 1 and np.unique(quantiles).size == quantiles.size:
        levels = np.linspace(0, 1, quantiles.size)
        test = sstats.kstest(live, lambda x: np.interp(x, quantiles, levels))
        out["ks_statistic"], out["ks_pvalue"] = float(test.statistic), float(test.pvalue)
    return out


def categorical_drift(stats: dict[str, Any], values: pd.Series) -> dict[str, Any]:
    """PSI over the profile's top categories plus one bucket for every other value."""
    live = values.dropna().astype(str)
    top = stats.get("top") or []
    out: dict[str, Any] = {"n": int(live.size), "psi": None, "ks_statistic": None, "ks_pvalue": None}
    if not live.size or not top:
        return out
    names = [str(v) for v, _ in top]
    expected = [float(f) for _, f in top]
    shares = live.value_counts(normalize=True)
    actual = [float(shares.get(n, 0.0)) for n in names]
    out["psi"] = psi(expected + [max(0.0, 1 - sum(expected))], actual + [max(0.0, 1 - sum(actual))])
    out["unseen_share"] = round(max(0.0, 1 - sum(actual)), 4) if len(names) < 20 else None
    return out


def column_drift(stats: dict[str, Any], values: pd.Series) -> dict[str, Any]:
    """Drift of one column, with the verdict ``drifted`` and the reason."""
    role = stats.get("role")
    result = numeric_drift(stats, values) if role == "numeric" else categorical_drift(stats, values)
    result["role"] = role
    result["drifted"], result["reason"] = _verdict(result)
    return result


def _verdict(result: dict[str, Any]) -> tuple[bool, str | None]:
    if result["n"] < THRESHOLDS["min_rows"]:
        return False, None
    if result["psi"] is not None and result["psi"] >= THRESHOLDS["psi"]:
        return True, f"PSI {result['psi']:.3f} >= {THRESHOLDS['psi']}"
    pvalue, statistic = result.get("ks_pvalue"), result.get("ks_statistic")
    if pvalue is not None and statistic is not None and pvalue < THRESHOLDS["ks_pvalue"] \
            and statistic >= THRESHOLDS["ks_statistic"]:
        return True, f"KS statistic {statistic:.3f}, p-value {pvalue:.2g}"
    return False, None


def read_log(path: str | Path, model: str | None = None) -> list[dict[str, Any]]:
    """The request log's records (optionally only those answered by ``model``); unreadable lines are skipped."""
    records = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and (model is None or record.get("model") == model):
                records.append(record)
    return records


def feature_drift(profile: dict[str, Any], rows: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Drift of every profiled, modelled column present in ``rows``."""
    return {name: column_drift(stats, rows[name]) for name, stats in profile["columns"].items()
            if name in rows.columns and not stats.get("dropped")}


def prediction_reference(model: Any, folder: str | Path | None) -> dict[str, Any] | None:
    """Statistics of the model's predictions on the training sample kept in ``folder`` (the reference of the
    prediction drift); the training target's profile when the folder keeps no sample."""
    from automl.data.profile import profile_column
    from automl.io.persist import load_sample

    sample = load_sample(folder) if folder is not None else None
    role = "numeric" if model.classes_ is None else "categorical"
    if sample is None:
        target = (getattr(model, "profile_", None) or {}).get("target")
        return None if not target else {**target, "reference": "training target"}
    predictions = pd.Series(model.predict(sample[0]))
    return {**profile_column(predictions, role), "reference": "predictions on the training sample"}


def monitor_report(model: Any, records: list[dict[str, Any]], labels: pd.Series | None = None,
                   reference: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the monitor checks, with the ``retrain`` verdict and its reasons.

    Parameters
    ----------
    model : AutoML
        Loaded model (``profile_``, ``metric_``, ``best_score_``).
    records : list of dict
        Request-log records (``row``, ``prediction``).
    labels : Series, optional
        True labels of the logged rows, in log order (see :func:`labels_for`).
    reference : dict, optional
        Statistics of the predictions on training data (:func:`prediction_reference`).
    """
    profile = getattr(model, "profile_", None)
    if profile is None:
        raise ValueError("the model folder has no profile.json: refit with this version to monitor drift")
    rows = logged_inputs(records)
    features = feature_drift(profile, rows) if len(rows) else {}
    predicted = None if reference is None else \
        {**column_drift(reference, pd.Series([r.get("prediction") for r in records])),
         "reference": reference.get("reference")}
    live = live_score(model, rows, labels) if labels is not None else None
    reasons = [f"feature {n!r}: {d['reason']}" for n, d in features.items() if d["drifted"]]
    if predicted is not None and predicted["drifted"]:
        reasons.append(f"predictions: {predicted['reason']}")
    if live is not None and live["degraded"]:
        reasons.append(f"score: live {live['metric']} {live['live']:.4f} vs validation {live['validation']:.4f}")
    return {"rows": len(records), "thresholds": THRESHOLDS, "features": features,
            "drifted_features": [n for n, d in features.items() if d["drifted"]], "predictions": predicted,
            "score": live, "retrain": bool(reasons), "reasons": reasons}


def logged_inputs(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per record: the logged row with the synthesised ``features`` of a model fitted with related tables or
    on series."""
    return pd.DataFrame([{**(r.get("row") or {}), **(r.get("features") or {})} for r in records])


def live_score(model: Any, rows: pd.DataFrame, labels: pd.Series) -> dict[str, Any]:
    """The model's metric on the logged rows against their labels, beside the validation score (predicted again from
    the logged features for a model fitted with related tables or on series)."""
    from automl.metrics import align_labels, checked_builtin, predict_for_metric, score_predictions
    from automl.model_input import FeatureModel, ModelInput

    if len(labels) != len(rows):
        raise ValueError(f"{len(labels)} labels for {len(rows)} logged rows: give one label per logged row")
    predictor: Any = model
    if ModelInput.of(model).synthesised:
        predictor = FeatureModel(model)
        frame = rows.reindex(columns=predictor.columns)
    elif getattr(model, "feature_names_in_", None) is not None:
        frame = rows.reindex(columns=[str(c) for c in model.feature_names_in_])
    else:
        frame = rows
    metric = checked_builtin(model.metric_)
    pred = predict_for_metric(predictor, frame, model.task_, model.classes_)
    value = score_predictions(metric, align_labels(model.classes_, labels), pred, None, model.classes_)
    validation = float(model.best_score_)
    loss = (validation - value) if model.metric_.greater_is_better else (value - validation)
    degraded = loss > THRESHOLDS["score_drop"] * max(abs(validation), 1e-12)
    return {"metric": model.metric_.name, "live": value, "validation": validation, "n": len(rows),
            "degraded": bool(degraded)}


def labels_for(records: list[dict[str, Any]], labels: pd.DataFrame, key: str | None = None) -> pd.Series:
    """Labels in log order: joined on ``input_hash`` when the file has that column, or on the logged row's ``key``
    column (a series model's id) when it has that one, else one per logged row in order (its last column)."""
    for column in ("input_hash", key):
        if column is not None and column in labels.columns:
            return _joined(records, labels, column)
    return labels.iloc[:, -1].reset_index(drop=True)


def _joined(records: list[dict[str, Any]], labels: pd.DataFrame, key: str) -> pd.Series:
    """The labels of the logged rows, joined on ``key`` (``input_hash``, or a column of the logged rows) as text."""
    column = [c for c in labels.columns if c != key][-1]
    by_key = dict(zip(labels[key].astype(str), labels[column]))
    keys = [str(r.get(key) if key == "input_hash" else (r.get("row") or {}).get(key)) for r in records]
    missing = sum(1 for k in keys if k not in by_key)
    if missing:
        raise ValueError(f"{missing} logged rows have no label (joined on {key})")
    return pd.Series([by_key[k] for k in keys])


def monitor_service(service: Any) -> dict[str, Any]:
    """The ``/monitor`` answer for a running service: the primary model's rows in its request log."""
    from automl.serve.validate import PayloadError

    path = service.log.path
    if path is None:
        raise PayloadError(404, "the service keeps no request log: start it with --log FILE to monitor drift")
    records = read_log(path, model=service.primary.name) if Path(path).exists() else []
    return monitor_report(service.primary.model, records, reference=service.primary.reference())
