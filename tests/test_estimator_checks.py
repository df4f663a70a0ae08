"""scikit-learn's estimator contract, checked by scikit-learn's own suite at a tiny budget."""
from __future__ import annotations

import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from automl import AutoML, AutoMLClassifier, AutoMLRegressor

pytestmark = pytest.mark.slow  # real searches, seconds each

# One family and one trial keep each of the ~50 checks fast; the contract does not depend on the family.
TINY = dict(time_budget=30, max_trials=1, families=["linear"], random_state=0, cv=2)

# Checks we exempt, with the reason.
EXPECTED_FAILED: dict[str, str] = {
    "check_sample_weight_equivalence_on_dense_data":
        "weights reach the model and the metric; preprocessing statistics (scaler mean and std, imputer "
        "median) are computed unweighted, so repeating rows and weighting them differ in the 5th decimal",
}


# A regressor's score() is the search metric with losses negated (-RMSE by default), not R^2: the check's
# "score > 0.5" reads R^2.
REGRESSOR_EXPECTED_FAILED: dict[str, str] = {
    "check_regressors_train": "score() is the search metric, negated when a loss (-RMSE), not R^2",
}


def _expected_failed(estimator):  # noqa: ANN001
    if isinstance(estimator, AutoMLRegressor):
        return {**EXPECTED_FAILED, **REGRESSOR_EXPECTED_FAILED}
    return EXPECTED_FAILED


@parametrize_with_checks([AutoMLClassifier(**TINY), AutoMLRegressor(**TINY)],
                         expected_failed_checks=_expected_failed)
def test_sklearn_contract(estimator, check):  # noqa: ANN001
    check(estimator)


def test_clone_keeps_parameters_as_given():
    model = AutoML(time_budget=5, families=("linear", "knn"), metric="accuracy", random_state=3)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert copy.families is not model.families or isinstance(model.families, tuple)
