"""skrnn's packed products against the libraries that could compute them
instead: OpenBLAS (as SciPy ships it), BLIS (the ``blis`` wheel) and oneDNN
(the ``onednn`` and ``onednn-devel`` wheels), on one core, on the products a
recurrent network computes.

The products (``gemm_libraries.c``, row-major, batch 64, 16 features, an
LSTM's four gates):

``fwd-step hH``
    A step's forward product, the batch's ``[x | h]`` rows (64 x (16 + H))
    times the stacked weights ((16 + H) x 4H). skrnn packs the weights once
    per pass; oneDNN's matmul primitive is given them reordered once into the
    layout it chose, so neither pays the packing per step. OpenBLAS, BLIS and
    oneDNN's sgemm pack at every call, as their interfaces do.
``bwd-step hH``
    A step's backward product through the recurrent weights: the gates'
    gradients (64 x 4H) times their transpose (4H x H).
``weight-grad hH``
    A mini-batch's weight gradient: ``[x | h]`` over its 64 steps, transposed
    ((16 + H) x 4096), times the gates' gradients (4096 x 4H); every library
    packs here, skrnn included.
``one-sequence h64``
    One step of predicting one sequence (1 x 80 times 80 x 256): the small
    call.

Each time is the best of five rounds of about 20 ms of calls, in one
thread: the script pins itself to one core before it loads any library, so
that OpenBLAS, BLIS and oneDNN's runtime each see one CPU. The last column
of each library is its time over skrnn's (above 1: skrnn is faster), and
every result is checked against skrnn's.

The libraries are optional: whichever is missing is left out of the table.
They come from the Python environment the script runs in::

    pip install blis onednn onednn-devel    # oneDNN needs both wheels
    python benchmarks/gemm_candidates.py
    python benchmarks/gemm_candidates.py --json gemm.json

The script compiles ``gemm_libraries.c`` with the C compiler Python was
built with (``cc`` if none is recorded), against skrnn's ``_gemm.h`` from
this checkout. The ``onednn`` wheel runs its CPU engine on the SYCL
runtime of its dependencies, whose OpenCL loader is pointed at that
runtime's CPU driver (``OCL_ICD_FILENAMES``) unless already set.
"""

import argparse
import ctypes
import glob
import json
import os
import platform
import shlex
import subprocess
import sys
import sysconfig
import tempfile

from machine import cpu_description

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "gemm_libraries.c")
LIBRARIES = ("skrnn", "openblas", "blis", "onednn-sgemm", "onednn-matmul")
# Multiply-adds of each product, from its (m, n, k) in gemm_libraries.c.
SHAPES = {
    "fwd-step h32": (64, 128, 48), "bwd-step h32": (64, 32, 128),
    "weight-grad h32": (48, 128, 4096),
    "fwd-step h128": (64, 512, 144), "bwd-step h128": (64, 128, 512),
    "weight-grad h128": (144, 512, 4096),
    "fwd-step h256": (64, 1024, 272), "bwd-step h256": (64, 256, 1024),
    "weight-grad h256": (272, 1024, 4096),
    "one-sequence h64": (1, 256, 80),
}


def openblas_path():
    """SciPy's OpenBLAS, which ships beside the scipy package."""
    try:
        import scipy
    except ImportError:
        return None
    site = os.path.dirname(os.path.dirname(scipy.__file__))
    found = sorted(glob.glob(os.path.join(site, "scipy.libs", "libscipy_openblas*.so")))
    return found[0] if found else None


def blis_path():
    """The extension module of the ``blis`` wheel, which holds BLIS."""
    try:
        import blis.cy
    except ImportError:
        return None
    return blis.cy.__file__


def onednn_prefix():
    """Where the ``onednn`` and ``onednn-devel`` wheels put the library
    and its headers (the environment's prefix), or None."""
    header = os.path.join(sys.prefix, "include", "oneapi", "dnnl", "dnnl.h")
    library = os.path.join(sys.prefix, "lib", "libdnnl.so")
    return sys.prefix if os.path.exists(header) and os.path.exists(library) else None


def compile_harness(directory, dnnl_prefix):
    compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")[:1] or ["cc"]
    output = os.path.join(directory, "gemm_libraries.so")
    command = compiler + ["-O3", "-fno-trapping-math", "-shared", "-fPIC", SOURCE,
                          "-o", output, "-ldl", "-lm"]
    if dnnl_prefix:
        library = os.path.join(dnnl_prefix, "lib")
        # RPATH, not RUNPATH: libdnnl's own dependencies (TBB, the SYCL
        # runtime) sit in the same directory and are found through it.
        command += ["-DHAVE_DNNL", "-I" + os.path.join(dnnl_prefix, "include"),
                    "-L" + library, "-ldnnl",
                    "-Wl,--disable-new-dtags,-rpath," + library]
    subprocess.run(command, check=True)
    return output


def one_thread(dnnl_prefix):
    """Pin the process to one core and ask each library for one thread,
    before any of them is loaded."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    for name in ("OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = "1"
    driver = os.path.join(dnnl_prefix or "", "lib", "libintelocl.so")
    if dnnl_prefix and os.path.exists(driver):
        os.environ.setdefault("OCL_ICD_FILENAMES", driver)


def measure(products):
    """Run the harness on ``products`` (names; all if empty); returns (its '#' header lines, rows of
    (product, dtype, library, microseconds, relative difference))."""
    dnnl = onednn_prefix()
    one_thread(dnnl)
    with tempfile.TemporaryDirectory() as directory:
        harness = ctypes.CDLL(compile_harness(directory, dnnl))
        output = os.path.join(directory, "times.tsv")
        run = harness.skrnn_gemm_candidates
        run.argtypes = [ctypes.c_char_p] * 4
        paths = [p.encode() if p else None for p in (openblas_path(), blis_path())]
        lines = []
        for product in products or [None]:
            status = run(*paths, output.encode(), product.encode() if product else None)
            with open(output) as f:
                lines += f.read().splitlines()
            if status:
                break
    header = list(dict.fromkeys(line[2:] for line in lines if line.startswith("#")))
    if status:
        raise SystemExit("gemm_libraries failed: " + "; ".join(header))
    rows = []
    for line in lines:
        if not line.startswith("#"):
            product, dtype, library, us, difference = line.split("\t")
            rows.append((product, dtype, library, float(us), float(difference)))
    return header, rows


def gflops(product, microseconds):
    m, n, k = SHAPES[product]
    return 2 * m * n * k / microseconds / 1e3


def print_table(header, rows):
    print(f"# CPU: {cpu_description()}")
    print(f"# Python {platform.python_version()}, one thread")
    for line in header:
        print(f"# {line}")
    libraries = [name for name in LIBRARIES if any(r[2] == name for r in rows)]
    times = {(r[0], r[1], r[2]): r[3] for r in rows}
    print("microseconds per product (GFLOP/s; time over skrnn's)")
    print(f"{'product':<18} {'dtype':<8}" + "".join(f"{name:>26}" for name in libraries))
    for product in SHAPES:
        for dtype in ("float32", "float64"):
            if (product, dtype, "skrnn") not in times:
                continue
            own = times[product, dtype, "skrnn"]
            cells = []
            for name in libraries:
                us = times.get((product, dtype, name))
                cells.append("" if us is None else
                             f"{us:.1f} ({gflops(product, us):.0f}; {us / own:.2f})")
            print(f"{product:<18} {dtype:<8}" + "".join(f"{c:>26}" for c in cells))
    worst = max((r for r in rows if r[2] != "skrnn"), key=lambda r: r[4], default=None)
    if worst:
        print(f"largest difference from skrnn's result, relative to its largest "
              f"value: {worst[4]:.1e} ({worst[2]}, {worst[0]}, {worst[1]})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", nargs="+", choices=list(SHAPES), metavar="PRODUCT",
                        help="time these products only (default: all; names as in "
                             "the table, e.g. 'fwd-step h32')")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    header, rows = measure(args.products)
    print_table(header, rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"kind": "gemm_candidates", "cpu": cpu_description(),
                       "libraries": header,
                       "rows": [dict(zip(("product", "dtype", "library", "microseconds",
                                          "relative_difference"), r)) for r in rows]},
                      f, indent=1)


if __name__ == "__main__":
    main()
