"""Suite-wide settings of the tests.

Tests that need an optional package skip without it, with a reason naming
the extra that installs it (``pytest.importorskip``). ``SKRNN_TEST_NO_SKIP=1``
(CI sets it) makes any skipped test fail the run instead: there every extra
is installed, so a skip can only mean a broken install or a test that no
longer runs, and a green run must mean that every test ran.
"""

import os

import pytest

NO_SKIP = os.environ.get("SKRNN_TEST_NO_SKIP", "") not in ("", "0")

_skipped = []


def _record_skip(report):
    # An expected failure is reported as skipped too; only real skips count.
    if NO_SKIP and report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid or report.fspath)


def pytest_collectreport(report):
    """A module-level ``pytest.importorskip`` skips at collection."""
    _record_skip(report)


def pytest_runtest_logreport(report):
    _record_skip(report)


def pytest_sessionfinish(session, exitstatus):
    if _skipped and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if _skipped:
        terminalreporter.write_line(
            f"SKRNN_TEST_NO_SKIP is set and {len(_skipped)} skipped (the SKIPPED lines "
            "give the reasons): the run fails. Install the extras they name "
            "(pip install \".[test,torch]\").",
            red=True,
        )
