"""``python -m skrnn``: train an RNN classifier on handwritten digits.

scikit-learn's ``load_digits`` images (8x8 pixels) are read row by row, so
each image is a sequence of 8 steps with 8 features. An ``RNNClassifier`` is
trained on three quarters of them, showing its loss after every epoch, and
its accuracy on the held-out quarter and the time taken are printed.
"""

import argparse
import time

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from . import RNNClassifier, __version__
from ._threads import effective_n_threads


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m skrnn",
        description="Train an Elman RNN on scikit-learn's digits, read row by row.",
    )
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--max-iter", type=int, default=200, help="maximum epochs")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.003)
    parser.add_argument("--clip-threshold", type=float, default=1.0,
                        help="global gradient-norm threshold; 0 turns clipping off")
    parser.add_argument("--threads", type=int, default=None,
                        help="kernel threads (default: all allowed)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    args = parser.parse_args(argv)

    images, labels = load_digits(return_X_y=True)
    X = (images / 16.0).reshape(-1, 8, 8)  # sequences of 8 rows of 8 pixels
    X_train, X_test, y_train, y_test = train_test_split(
        X, labels, test_size=0.25, random_state=args.seed, stratify=labels
    )
    print(
        f"skrnn {__version__}: digits as sequences of 8 steps x 8 features; "
        f"{len(X_train)} training and {len(X_test)} test sequences, "
        f"{effective_n_threads(args.threads)} thread(s)"
    )
    clf = RNNClassifier(
        hidden_layer_sizes=args.hidden_size,
        max_iter=args.max_iter,
        batch_size=args.batch_size,
        learning_rate_init=args.learning_rate,
        clip_threshold=args.clip_threshold or None,
        n_threads=args.threads,
        random_state=args.seed,
        verbose=not args.quiet,
    )
    start = time.perf_counter()
    clf.fit(X_train, y_train)
    elapsed = time.perf_counter() - start
    accuracy = clf.score(X_test, y_test)
    print(
        f"trained {clf.n_iter_} epochs in {elapsed:.1f} s "
        f"(gradient clipped in {clf.n_clipped_steps_} of "
        f"{clf.n_iter_ * -(-len(X_train) // args.batch_size)} updates)"
    )
    print(f"held-out accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
