"""The order of the gallery's examples: what the estimators take and
return, how a fit goes, then the problems they solve. An example not listed
here comes after these, by file name."""

import os

EXAMPLES = [
    "plot_shapes.py",
    "plot_learning_curves.py",
    "plot_tagging_regimes.py",
    "plot_pooling.py",
    "plot_adding_problem.py",
    "plot_forecasting_sunspots.py",
]


def example_order(path):
    """Sort key of an example's file for sphinx-gallery."""
    name = os.path.basename(path)
    return (EXAMPLES.index(name) if name in EXAMPLES else len(EXAMPLES), name)
