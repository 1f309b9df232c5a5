"""The Examples sections of public docstrings run and print what they say."""

import doctest
import importlib

import pytest

MODULES = ["skrnn._rnn", "skrnn._step", "skrnn._sequences", "skrnn._threads", "skrnn._base",
           "skrnn.preprocessing", "skrnn._esn"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if name in ("skrnn._rnn", "skrnn._step", "skrnn._sequences", "skrnn.preprocessing",
                "skrnn._esn"):
        assert result.attempted > 0  # these modules do have examples
