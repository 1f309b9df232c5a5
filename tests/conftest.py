"""Suite-wide settings of the tests.

Tests that need an optional package skip without it, with a reason naming
the extra that installs it (``pytest.importorskip``). ``SKRNN_TEST_NO_SKIP=1``
(CI sets it) makes any skipped test fail the run instead: there every extra
is installed, so a skip can only mean a broken install or a test that no
longer runs, and a green run must mean that every test ran.

scikit-learn skips its array API check (``check_array_api_input``, among
the common checks of tests/test_common.py) unless ``SCIPY_ARRAY_API=1`` is
set before scipy is first imported, which a conftest is early enough for.
"""

import os

# Before anything imports scipy: the test modules import it through sklearn.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest  # noqa: E402

NO_SKIP = os.environ.get("SKRNN_TEST_NO_SKIP", "") not in ("", "0")

_skipped = []


def _record_skip(report):
    # An expected failure is reported as skipped too; only real skips count.
    if NO_SKIP and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        _skipped.append(f"{report.nodeid or report.fspath}: {reason}")


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
            f"SKRNN_TEST_NO_SKIP is set and {len(_skipped)} skipped (listed below with "
            "their reasons): the run fails. Install the extras they name "
            "(pip install \".[test,torch]\").",
            red=True,
        )
        for line in _skipped:
            terminalreporter.write_line(f"  skipped: {line}", red=True)
