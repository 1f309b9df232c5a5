"""Padded arrays: ``from_padded`` and the errors that point to it.

tslearn stores ragged sequences NaN-padded after their ends; Keras pads them
with zeros. skrnn reads neither without being told, and its NaN error says
where the NaN is and how to read padding.
"""

import numpy as np
import pytest
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skrnn import RNNClassifier, RNNRegressor, RNNStepClassifier, from_padded
from skrnn.preprocessing import SequenceScaler

FAST = dict(hidden_layer_sizes=(6,), max_iter=3, random_state=0)


def _ragged(n=40, n_features=2, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(3 + i % 7, n_features)) for i in range(n)]


def _padded(sequences, value, n_timesteps=12):
    """The array tslearn's ``to_time_series_dataset`` (NaN) or Keras'
    ``pad_sequences(..., padding="post")`` (0.0) makes of ``sequences``."""
    out = np.full((len(sequences), n_timesteps, sequences[0].shape[1]), value)
    for i, seq in enumerate(sequences):
        out[i, : len(seq)] = seq
    return out


@pytest.mark.parametrize("value", [np.nan, 0.0, -1.0])
def test_from_padded_gives_back_each_sequence(value):
    sequences = _ragged()
    X = _padded(sequences, value)
    before = X.copy()
    out = from_padded(X, mask_value=value)
    assert [s.shape for s in out] == [s.shape for s in sequences]
    for got, want in zip(out, sequences):
        np.testing.assert_array_equal(got, want)
    out[0][0, 0] = 99.0
    np.testing.assert_array_equal(X, before)  # new arrays; X untouched


def test_from_padded_keeps_mask_values_within_a_sequence():
    """Only trailing steps with every feature equal to mask_value are
    padding: a zero step inside a sequence, or a step with one zero
    feature at its end, is data."""
    X = np.array([
        [[1.0, 2.0], [0.0, 0.0], [3.0, 4.0], [0.0, 0.0]],
        [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]],
        [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [0.0, 5.0]],
    ])
    lengths = [len(s) for s in from_padded(X, mask_value=0.0)]
    assert lengths == [3, 1, 4]


def test_from_padded_univariate_table_and_integer_input():
    X = np.array([[1, 2, 0, 0], [3, 4, 5, 0]])
    out = from_padded(X, mask_value=0)
    assert [s.tolist() for s in out] == [[[1], [2]], [[3], [4], [5]]]


def test_from_padded_cuts_per_step_targets_to_the_same_lengths():
    sequences = _ragged()
    X = _padded(sequences, np.nan)
    labels = np.full(X.shape[:2], -1)
    values = np.zeros(X.shape[:2] + (3,))
    for i, seq in enumerate(sequences):
        labels[i, : len(seq)] = i % 3
        values[i, : len(seq)] = i
    for y, tail in ((labels, ()), (values, (3,))):
        X_out, y_out = from_padded(X, y)
        assert [t.shape for t in y_out] == [(len(s),) + tail for s in sequences]
        assert all((t == i % 3 if y is labels else t == i).all() for i, t in enumerate(y_out))


@pytest.mark.parametrize(
    "X, kwargs, match",
    [
        (np.zeros(5), {}, "3-D array .* got 1 dimensions"),
        (np.array([["a", "b"]]), {}, "numeric"),
        (np.ones((2, 3, 1)), {"mask_value": "nan"}, "mask_value must be a number"),
        (np.ones((2, 3, 1)), {"mask_value": None}, "mask_value must be a number"),
        (np.ones((2, 3, 1)), {"y": np.ones((2, 4))}, r"target for every step .* got shape \(2, 4\)"),
        (np.ones((2, 3, 1)), {"y": np.ones(2)}, r"got shape \(2,\)"),
    ],
    ids=["1d", "strings", "string_mask", "none_mask", "y_steps", "y_per_sequence"],
)
def test_from_padded_rejects_bad_arguments(X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        from_padded(X, **kwargs)


def test_from_padded_names_a_sequence_of_padding_only():
    X = _padded(_ragged(n=5), np.nan)
    X[3] = np.nan
    with pytest.raises(ValueError, match="Sequence 3 of X is padding only"):
        from_padded(X)


@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor])
def test_nan_padded_array_error_names_the_place_and_from_padded(Estimator):
    X = _padded(_ragged(), np.nan)
    y = np.arange(40) % 2
    # The first NaN is sequence 0's padding, after its 3 steps.
    with pytest.raises(ValueError, match=r"X contains NaN in sequence 0 at step 3 "
                                         r"\(feature 0\).*skrnn\.from_padded\(X\)"):
        Estimator(**FAST).fit(X, y)
    model = Estimator(**FAST).fit(from_padded(X), y)
    new = np.zeros((4, 6, 2))
    new[2, 5, 1] = np.nan
    # Prediction finds the NaN in its kernels, and names it as fit does.
    with pytest.raises(ValueError, match=r"in sequence 2 at step 5 \(feature 1\).*from_padded"):
        model.predict(new)
    with pytest.raises(ValueError, match=r"Sequence 1 of X is invalid: X\[1\] contains NaN "
                                         r"at step 5 \(feature 1\)"):
        model.predict([new[0], new[2], new[1, :3]])


def test_infinity_keeps_scikit_learns_message():
    X = np.zeros((40, 5, 2))
    X[1, 1, 1] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        RNNClassifier(**FAST).fit(X, np.arange(40) % 2)


def test_fit_on_cut_padding_equals_fit_on_the_sequences():
    """The tslearn workflow: a NaN-padded dataset, cut by from_padded and
    scaled, trains the model the ragged list trains."""
    sequences = _ragged(seed=1)
    y = np.array([s[:, 0].mean() > 0 for s in sequences], dtype=int)
    from_list = make_pipeline(SequenceScaler(), RNNClassifier(**FAST)).fit(sequences, y)
    from_nan = make_pipeline(SequenceScaler(), RNNClassifier(**FAST)).fit(
        from_padded(_padded(sequences, np.nan)), y)
    np.testing.assert_array_equal(from_list[-1]._params, from_nan[-1]._params)
    np.testing.assert_array_equal(from_list.predict_proba(sequences),
                                  from_nan.predict_proba(sequences))


def test_keras_padded_pipeline_in_model_selection():
    """A zero-padded array goes through a Pipeline whose first step cuts the
    padding, so that cross-validation splits the array itself."""
    rng = np.random.default_rng(2)
    sequences = [rng.normal(size=(4 + i % 9, 1)) + 2.0 * (i % 2) for i in range(60)]
    y = np.arange(60) % 2
    X = _padded(sequences, 0.0, n_timesteps=13)
    model = make_pipeline(FunctionTransformer(from_padded, kw_args={"mask_value": 0.0}),
                          RNNClassifier(hidden_layer_sizes=(8,), max_iter=60,
                                        learning_rate_init=0.02, random_state=0))
    scores = cross_val_score(model, X, y, cv=3)
    # The classes differ by their mean, 2 apart at unit noise (the mean of
    # four or more steps separates them 98% of the time): far above the 0.5
    # of chance once the padding's zeros are not read as steps.
    assert scores.mean() > 0.9


def test_per_step_targets_from_padding_train_the_step_estimator():
    """The documented example (doc/user_guide.md, "Padded arrays")."""
    X_padded = np.zeros((40, 12, 2))
    for i in range(40):
        X_padded[i, : 4 + i % 8] = np.random.default_rng(i).normal(size=(4 + i % 8, 2))
    tags_padded = (X_padded[..., 0] > 0).astype(int)
    X_list, tags = from_padded(X_padded, tags_padded, mask_value=0.0)
    model = RNNStepClassifier(8, max_iter=5, random_state=0).fit(X_list, tags)
    predicted = model.predict(X_list)
    assert [len(p) for p in predicted] == [4 + i % 8 for i in range(40)]
    classifier = RNNClassifier(8, max_iter=5, random_state=0).fit(
        from_padded(X_padded, mask_value=0.0), np.arange(40) % 2)
    assert classifier.n_features_in_ == 2
