"""Build the Cython kernels.

The kernels run on a team of POSIX threads of their own (``_team.h``).
OpenMP, where the compiler supports it, only tells them how many threads
``OMP_NUM_THREADS`` and threadpoolctl allow (the ``_openmp`` module).

Everything else about the package is declared in pyproject.toml.

``SKRNN_BOUNDS_CHECK=1`` builds the kernels for testing instead of speed:
Cython's bounds and initialisation checks on every memoryview access, and
AddressSanitizer with glibc's assertions on the C code
(``doc/user_guide.md``, "Checking the kernels", says how to run the tests on
such a build).
"""

import os
import sys
import tempfile
import textwrap
import warnings

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNELS = ["_openmp", "_team", "_layout", "_dense", "_output", "_elman", "_lstm", "_gru", "_layer",
           "_reservoir", "_update"]

BOUNDS_CHECK = os.environ.get("SKRNN_BOUNDS_CHECK", "") not in ("", "0")

CYTHON_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": BOUNDS_CHECK,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": BOUNDS_CHECK,
    "cpow": True,
}

if sys.platform == "win32":
    COMPILE_ARGS, LINK_ARGS = ["/O2"], []
elif BOUNDS_CHECK:
    SANITIZE = ["-fsanitize=address", "-fno-omit-frame-pointer"]
    COMPILE_ARGS = ["-O1", "-g", "-D_FORTIFY_SOURCE=2", "-D_GLIBCXX_ASSERTIONS"] + SANITIZE
    LINK_ARGS = SANITIZE
else:
    # -fno-trapping-math changes no result (we never unmask FP traps); it
    # lets GCC vectorise the branch-free tanh of _tanh.h. -fno-math-errno
    # changes none either (nothing reads errno); without it a loop that
    # takes a square root (Adam's update, _update.h) is not vectorised.
    # -g0: the installed libraries carry no debug information (four fifths
    # of their size).
    COMPILE_ARGS, LINK_ARGS = ["-O3", "-fno-trapping-math", "-fno-math-errno", "-g0"], []

OPENMP_TEST = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        return n > 0 ? 0 : 1;
    }
    """
)


def _openmp_flags(compiler):
    """Compile and link flags for OpenMP, or None if this compiler lacks it."""
    if compiler.compiler_type == "msvc":
        return ["/openmp"], []
    flags = ["-fopenmp"]
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "test_openmp.c")
        with open(source, "w") as f:
            f.write(OPENMP_TEST)
        try:
            objects = compiler.compile([source], output_dir=tmp, extra_postargs=flags)
            compiler.link_executable(
                objects, "test_openmp", output_dir=tmp, extra_postargs=flags
            )
        except Exception:  # any compile or link failure means "no OpenMP"
            return None
    return flags, flags


class BuildExtWithOpenMP(build_ext):
    def build_extensions(self):
        flags = _openmp_flags(self.compiler)
        if flags is None or os.environ.get("SKRNN_NO_OPENMP"):
            warnings.warn(
                "OpenMP is not available with this compiler: skrnn is built "
                "without it, and reads OMP_NUM_THREADS itself but not "
                "threadpoolctl's limits on OpenMP.",
                stacklevel=1,
            )
            print("skrnn: building WITHOUT OpenMP (no threadpoolctl limits)", file=sys.stderr)
        else:
            compile_flags, link_flags = flags
            for ext in self.extensions:
                if ext.name.endswith("._openmp"):
                    ext.extra_compile_args += compile_flags
                    ext.extra_link_args += link_flags
        if self.compiler.compiler_type != "msvc":
            for ext in self.extensions:
                if ext.name.endswith("._team"):
                    ext.extra_compile_args += ["-pthread"]
                    ext.extra_link_args += ["-pthread"]
        super().build_extensions()


extensions = [
    Extension(
        f"skrnn._kernels.{name}",
        [f"src/skrnn/_kernels/{name}.pyx"],
        include_dirs=[np.get_include(), "src/skrnn/_kernels"],
        extra_compile_args=list(COMPILE_ARGS),
        extra_link_args=list(LINK_ARGS),
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
    )
    for name in KERNELS
]

setup(
    ext_modules=cythonize(extensions, compiler_directives=CYTHON_DIRECTIVES),
    cmdclass={"build_ext": BuildExtWithOpenMP},
)
