"""scikit-learn's common estimator checks, for every cell and for the Echo
State Networks.

The per-sequence estimators (and ``Reservoir``) pass them all. The per-step estimators pass
those that apply; the others give ``y`` one target per sample (shape
(n_samples,) or (n_samples, n_outputs)) where these estimators need one per
time step, and are expected to fail with the error that says so. Their
per-step counterparts are in tests/test_step.py (class_weight's in
tests/test_class_weight.py).

scikit-learn runs ``check_array_api_input`` (array API dispatch on, NumPy
input: the same results) only where ``SCIPY_ARRAY_API=1`` was set before
scipy was imported, and skips it elsewhere; tests/conftest.py sets it.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skrnn import (
    ESNClassifier, ESNRegressor, ESNStepClassifier, ESNStepRegressor, Reservoir,
    RNNClassifier, RNNRegressor, RNNStepClassifier, RNNStepRegressor,
)

CELLS = ["rnn", "lstm", "gru"]

_ONE_TARGET_PER_SAMPLE = (
    "fits with one target per sample, where a per-step estimator needs one per "
    "time step (it raises the ValueError that says so)"
)
_PER_SAMPLE_CHECKS = [
    "check_dict_unchanged", "check_dont_overwrite_parameters", "check_dtype_object",
    "check_estimators_dtypes", "check_estimators_fit_returns_self",
    "check_estimators_nan_inf", "check_estimators_overwrite_params",
    "check_estimators_partial_fit_n_features", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_fit2d_1feature", "check_fit2d_1sample",
    "check_fit2d_predict1d", "check_fit_check_is_fitted", "check_fit_idempotent",
    "check_fit_score_takes_y", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_n_features_in",
    "check_n_features_in_after_fitting", "check_non_transformer_estimators_n_iter",
    "check_pipeline_consistency", "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input", "check_supervised_y_2d",
    "check_all_zero_sample_weights_error", "check_sample_weight_equivalence_on_dense_data",
    "check_sample_weights_list", "check_sample_weights_not_an_array",
    "check_sample_weights_not_overwritten", "check_sample_weights_pandas_series",
    "check_sample_weights_shape", "check_array_api_input",
]
_CLASSIFIER_CHECKS = [
    "check_class_weight_classifiers", "check_classifier_data_not_an_array",
    "check_classifiers_classes",
    "check_classifiers_one_label", "check_classifiers_one_label_sample_weights",
    "check_classifiers_regression_target",
    "check_classifiers_train",
]
_REGRESSOR_CHECKS = [
    "check_regressor_data_not_an_array", "check_regressor_multioutput",
    "check_regressors_int", "check_regressors_no_decision_function",
    "check_regressors_train",
]


# With its default 200 epochs of Adam on shuffled mini-batches, a fit
# amplifies the rounding-level difference between the weighted objective and
# the objective of repeated sequences (equal to 1e-12,
# tests/test_sample_weight.py) to as much as 1e-5 in the predictions, past
# the check's 1e-7, for some cells and not others as the rounding falls; so
# it may fail or pass here. The same check passes on estimators configured
# for it (test_sample_weight.py::test_scikit_learn_weight_equivalence_check).
_WEIGHT_EQUIVALENCE = (
    "200 Adam epochs can amplify rounding-level differences past the check's "
    "rtol=1e-7 (cell- and CPU-dependent); checked with 10 epochs in "
    "tests/test_sample_weight.py"
)


def _expected_failed_checks(estimator):
    if isinstance(estimator, (RNNStepClassifier, ESNStepClassifier)):
        names = _PER_SAMPLE_CHECKS + _CLASSIFIER_CHECKS
    elif isinstance(estimator, (RNNStepRegressor, ESNStepRegressor)):
        names = _PER_SAMPLE_CHECKS + _REGRESSOR_CHECKS
    elif isinstance(estimator, (RNNClassifier, RNNRegressor)):
        return {"check_sample_weight_equivalence_on_dense_data": _WEIGHT_EQUIVALENCE}
    else:
        return {}
    return {name: _ONE_TARGET_PER_SAMPLE for name in names}


@parametrize_with_checks(
    [RNNClassifier(cell=cell) for cell in CELLS] + [RNNRegressor(cell=cell) for cell in CELLS]
    + [RNNStepClassifier(cell="lstm"), RNNStepRegressor(cell="gru")]
    + [ESNClassifier(), ESNRegressor(), Reservoir(), ESNStepClassifier(), ESNStepRegressor()],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
