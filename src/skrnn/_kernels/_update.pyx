"""The optimizers' updates of the flat parameter vector, each in one pass
(``_update.h``): bitwise the array operations of ``skrnn._optimizers``
they replace, without a dozen passes over arrays of the parameters' size
at every mini-batch.

Kernels never validate user input: the caller allocates every array, of
one length and the parameters' dtype.
"""

from cython cimport floating


cdef extern from "_update.h" nogil:
    void skrnn_adam_update_float(
        Py_ssize_t n, const float *params, const float *grad, const float *m,
        const float *v, float beta_1, float one_minus_beta_1, float beta_2,
        float one_minus_beta_2, float epsilon, double lr, float *m_out, float *v_out,
        float *out, int *all_finite)
    void skrnn_adam_update_double(
        Py_ssize_t n, const double *params, const double *grad, const double *m,
        const double *v, double beta_1, double one_minus_beta_1, double beta_2,
        double one_minus_beta_2, double epsilon, double lr, double *m_out,
        double *v_out, double *out, int *all_finite)


def adam_update(
    const floating[::1] params, const floating[::1] grad, const floating[::1] m,
    const floating[::1] v, double beta_1, double beta_2, double epsilon, double lr,
    floating[::1] m_out, floating[::1] v_out, floating[::1] out,
):
    """One Adam step: the new moments into ``m_out`` and ``v_out``, the new
    parameters into ``out``.

    ``beta_1``, ``beta_2`` and ``epsilon`` are rounded to the parameters'
    dtype, as NumPy rounds a Python float in an operation on a float32
    array; so are ``1 - beta_1`` and ``1 - beta_2``, computed in double
    precision first. The step's rate ``lr`` (the bias correction folded in,
    a NumPy float64 in ``AdamOptimizer``) multiplies in double precision,
    as NumPy multiplies a float32 array by a float64 scalar.

    Returns
    -------
    all_finite : bool
        Whether every new moment is finite.
    """
    cdef Py_ssize_t n = params.shape[0]
    cdef int all_finite = 1
    for name, length in (("grad", grad.shape[0]), ("m", m.shape[0]), ("v", v.shape[0]),
                         ("m_out", m_out.shape[0]), ("v_out", v_out.shape[0]),
                         ("out", out.shape[0])):
        if length != n:
            raise ValueError(f"adam_update: {name} has {length} values; params has {n}")
    if n == 0:
        return True
    with nogil:
        if floating is float:
            skrnn_adam_update_float(
                n, &params[0], &grad[0], &m[0], &v[0], <float> beta_1,
                <float> (1 - beta_1), <float> beta_2, <float> (1 - beta_2),
                <float> epsilon, lr, &m_out[0], &v_out[0], &out[0], &all_finite)
        else:
            skrnn_adam_update_double(
                n, &params[0], &grad[0], &m[0], &v[0], beta_1, 1 - beta_1, beta_2,
                1 - beta_2, epsilon, lr, &m_out[0], &v_out[0], &out[0], &all_finite)
    return bool(all_finite)
