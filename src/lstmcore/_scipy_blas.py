"""The thread control of the BLAS the C core calls: SciPy's own OpenBLAS (``scipy.linalg.
cython_blas``), which is not NumPy's (``scipy-openblas64``) in the wheels from PyPI.

The binding sets it to 1 thread for the backward calls whose products run in pieces on the
core's own threads (``lstm_backward_splits_blas`` in csrc/lstm.h): each piece then runs in the
thread that calls it, and OpenBLAS's threads, which spin for up to 0.1 s after every call they
take part in, stay asleep while the core's threads run the next time loop (at
(50, 64, 128, 128) a training step took 1.5-2x longer with them spinning).
"""
import os


def scipy_openblas_controller():
    """threadpoolctl's controller of SciPy's bundled OpenBLAS, or None where SciPy uses another
    BLAS (a distribution's own OpenBLAS or MKL, say): the core then leaves BLAS's threads be."""
    try:
        import scipy
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    libs = os.path.realpath(os.path.join(os.path.dirname(scipy.__file__), os.pardir, "scipy.libs"))
    for controller in ThreadpoolController().select(internal_api="openblas").lib_controllers:
        if os.path.dirname(os.path.realpath(controller.filepath)) == libs:
            return controller
    return None
