# NumPy arrays as the entry points hand them to the kernels: the address of
# the first value and the shape, read through NumPy's C API.
#
# A typed memoryview does the same job, but acquiring one builds a buffer
# description, parses its format string and allocates a memoryview object:
# about 60 ns an array, and a layer's pass takes 13 to 18 float arrays, a
# noticeable part of predicting one short sequence. These read the fields
# of the array object itself, after the checks the memoryview would make
# (dimensions, dtype, C order, writeable where written).
#
# The caller keeps a reference to every array it reads this way for as
# long as the kernels use the address (``_layer.pyx``: the pass object
# holds them).

cimport numpy as cnp
from cython cimport floating


cdef struct Matrix:
    # A C-contiguous array of one or two dimensions (a vector: cols == 1).
    void *data          # its first value, or NULL if it has none
    Py_ssize_t rows
    Py_ssize_t cols


cdef inline int read_array(
    object array, str name, int ndim, int typenum, bint written, Matrix *out,
) except -1:
    """Fill ``out`` with ``array``'s address and shape, after checking that
    it is an ndarray of ``ndim`` dimensions (1 or 2) and type ``typenum``,
    C-contiguous and, if ``written``, writeable."""
    if not cnp.PyArray_Check(array):
        raise TypeError(f"kernel argument {name} is a {type(array).__name__}, "
                        "not a NumPy array")
    cdef cnp.ndarray a = <cnp.ndarray> array
    if (cnp.PyArray_NDIM(a) != ndim or cnp.PyArray_TYPE(a) != typenum
            or not cnp.PyArray_IS_C_CONTIGUOUS(a)
            or (written and not cnp.PyArray_ISWRITEABLE(a))):
        raise ValueError(
            f"kernel argument {name} must be a C-contiguous{' writeable' if written else ''} "
            f"{ndim}-D array of {cnp.PyArray_DescrFromType(typenum)}; got "
            f"{cnp.PyArray_NDIM(a)}-D {a.dtype}"
            f"{'' if cnp.PyArray_IS_C_CONTIGUOUS(a) else ', not C-contiguous'}"
            f"{', read-only' if written and not cnp.PyArray_ISWRITEABLE(a) else ''}")
    out.rows = cnp.PyArray_DIM(a, 0)
    out.cols = cnp.PyArray_DIM(a, 1) if ndim == 2 else 1
    out.data = cnp.PyArray_DATA(a) if out.rows > 0 and out.cols > 0 else NULL
    return 0


cdef inline bint is_float64(object array):
    """Whether ``array`` is an ndarray of float64: how an entry point taking
    arrays of either float type picks its path (the other path then checks
    that every array is float32)."""
    return cnp.PyArray_Check(array) and cnp.PyArray_TYPE(<cnp.ndarray> array) == cnp.NPY_DOUBLE


cdef inline int typenum_of(floating *dtype) noexcept nogil:
    """NumPy's type number of ``floating`` (``dtype`` only selects it): what
    a fused entry point asks ``read_array`` for."""
    return cnp.NPY_DOUBLE if floating is double else cnp.NPY_FLOAT
