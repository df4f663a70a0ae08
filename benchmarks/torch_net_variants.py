"""Would AutoGluon's choices for its network help ours on regression? The torch network regressor alone, variants of it.

AutoGluon's tabular network (``tabular_nn_torch.py``) trains a regression on the L1 loss, maps its output through a
sigmoid onto the training targets' range widened by 5 %, and quantile-transforms (to a normal) each number whose
absolute skew is above 0.99; ours trains on the squared error of the standardised target, clips to that range, and
standardises every number. This script fits the variants of ours on the benchmark's seed split of each regression
table of ``--suite`` (default ``extra``: the training collection, not the suite reported on) and prints the test RMSE
of each against ours as it is:

- ``mse`` (ours), ``l1`` (the L1 loss on the standardised target), ``bounded_l1`` (AutoGluon's output and loss);
- each again with the skewed numbers quantile-transformed (``+quantile``).

Columns are prepared as the family's ``needs`` say (numbers imputed by the median and standardised, categories
one-hot, at most 100 columns each), not through the engine's pipeline; every fit is capped at ``--seconds``.

Usage::

    python -m benchmarks.torch_net_variants [--suite extra] [--datasets a,b] [--seed 0] [--seconds 15]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import skew
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, QuantileTransformer, StandardScaler

from automl.models.torch_net import TARGET_RANGE_MARGIN, TorchNetRegressor
from benchmarks import datasets

#: a number is skewed, as AutoGluon's network reads it (its ``proc.skew_threshold``), above this absolute skew
SKEW_THRESHOLD = 0.99


class L1Net(TorchNetRegressor):
    """Ours on the L1 loss of the standardised target."""

    def _loss(self, torch: Any) -> Any:
        l1 = torch.nn.L1Loss(reduction="none")
        return lambda output, target: l1(output, target)[:, 0]


class BoundedL1Net(L1Net):
    """AutoGluon's: the output is a sigmoid over the widened training range, trained on the L1 loss."""

    def _targets(self, y: np.ndarray) -> tuple[np.ndarray, int]:
        values = y.astype(np.float64)
        margin = TARGET_RANGE_MARGIN * (values.max() - values.min())
        self.target_range_ = (float(values.min() - margin), float(values.max() + margin))
        self.target_mean_ = self.target_range_[0]
        self.target_scale_ = (self.target_range_[1] - self.target_range_[0]) or 1.0
        return ((values - self.target_mean_) / self.target_scale_).astype(np.float32)[:, None], 1

    def _network(self, torch: Any, inputs: int, outputs: int) -> Any:
        return torch.nn.Sequential(*super()._network(torch, inputs, outputs), torch.nn.Sigmoid())

    def answer(self, features: np.ndarray) -> np.ndarray:
        share = 1.0 / (1.0 + np.exp(-self._outputs(features).astype(np.float64)))
        return share * self.target_scale_ + self.target_mean_


VARIANTS = {"mse": TorchNetRegressor, "l1": L1Net, "bounded_l1": BoundedL1Net}


def prepared(train: pd.DataFrame, test: pd.DataFrame, categorical: list[str],
             quantile: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Training and test columns as the family needs them; with ``quantile``, skewed numbers quantile-transformed.
    Returns both and how many numbers were skewed."""
    numbers = [c for c in train.columns if c not in categorical]
    skewed = [c for c in numbers if quantile and train[c].nunique() > 2
              and abs(skew(train[c].dropna().astype(float))) > SKEW_THRESHOLD]
    parts: list[tuple[str, Any, list[str]]] = [
        ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
         [c for c in numbers if c not in skewed])]
    if skewed:
        quantiles = QuantileTransformer(output_distribution="normal", n_quantiles=min(1000, len(train)))
        parts.append(("skewed", make_pipeline(SimpleImputer(strategy="median"), quantiles, StandardScaler()), skewed))
    if categorical:
        parts.append(("categories", make_pipeline(SimpleImputer(strategy="constant", fill_value="__missing__"),
                                                  OneHotEncoder(handle_unknown="ignore", max_categories=100,
                                                                sparse_output=False)), categorical))
    columns = ColumnTransformer(parts)
    return (columns.fit_transform(train).astype(np.float32), columns.transform(test).astype(np.float32),
            len(skewed))


def measure(meta: dict[str, Any], root: Path, seed: int, seconds: float) -> dict[str, float]:
    """Test RMSE of every variant, with and without the quantile transform, on one table's seed split."""
    train, test = datasets.split_frame(datasets.load_frame(meta, root), meta, seed)
    target = meta["target"]
    categorical = [c for c in meta.get("categorical_columns", []) if c != target and c in train.columns]
    for frame in (train, test):
        frame[categorical] = frame[categorical].astype(str)
    y, y_test = train[target].to_numpy(float), test[target].to_numpy(float)
    scores: dict[str, float] = {}
    for quantile in (False, True):
        features, test_features, skewed = prepared(train.drop(columns=[target]), test.drop(columns=[target]),
                                                   categorical, quantile)
        for name, variant in VARIANTS.items():
            start = time.monotonic()
            net = variant(max_seconds=seconds, n_jobs=2, random_state=seed).fit(features, y)
            key = name + ("+quantile" if quantile else "")
            scores[key] = float(np.sqrt(np.mean((net.predict(test_features) - y_test) ** 2)))
            print(f"{meta['name']} {key}: RMSE {scores[key]:.6g}, {net.n_epochs_} epochs (best {net.best_epoch_}), "
                  f"{time.monotonic() - start:.1f}s, {skewed} skewed", flush=True)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", default="extra")
    parser.add_argument("--datasets", default=None, help="comma-separated names (default: every regression table)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=15.0, help="cap of each fit")
    args = parser.parse_args()
    root = datasets.datasets_dir(args.suite)
    chosen = datasets.select(datasets.load_manifest(root), args.datasets.split(",") if args.datasets else None)
    for meta in (m for m in chosen if m["task"] == "regression"):
        scores = measure(meta, root, args.seed, args.seconds)
        gains = {k: round(100 * (scores["mse"] - v) / scores["mse"], 2) for k, v in scores.items()}
        print(f"{meta['name']}: RMSE gain against ours (%): {gains}", flush=True)


if __name__ == "__main__":
    main()
