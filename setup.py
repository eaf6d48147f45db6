"""Declares the compiled extension; all metadata lives in pyproject.toml."""
import os
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

# -O3 vectorises the gate loops; no -ffast-math, so NaN and Inf propagate as IEEE says.
# -fno-math-errno only stops libm calls from setting errno, which nothing reads, and
# -fno-trapping-math lets the NaN-preserving clamps of lstm_math.h become vector selects (it
# gives up FP exception flags, which nothing reads either). -std=c11 keeps FMA contraction
# off except in the gate and small-GEMM kernels, which opt in (see csrc/lstm_impl.h).
# -fno-tree-loop-distribute-patterns keeps the kernels' short copy loops (a block's 16
# elements, a row's tail) as inline vector moves: GCC turned them into memcpy calls, whose
# per-call cost at H = 30 was 4-15% of a seed training step.
compile_args = ["-O3", "-std=c11", "-fno-math-errno", "-fno-trapping-math",
                "-fno-tree-loop-distribute-patterns"]
if sys.platform == "win32":
    compile_args = ["/O2"]
# Opt-in for local builds tuned to this CPU; wheels must run on any x86-64.
if os.environ.get("LSTMCORE_NATIVE") == "1":
    compile_args.append("-march=native")

core = Extension(
    "lstmcore._core",
    sources=["src/lstmcore/_core.pyx", "csrc/lstm.c", "csrc/lstm_threads.c"],
    include_dirs=["csrc", numpy.get_include()],
    # The binding reads arrays through NumPy's C API; no call it makes is deprecated.
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    depends=["csrc/lstm.h", "csrc/lstm_impl.h", "csrc/lstm_math.h", "csrc/lstm_gemm.h",
             "csrc/lstm_gemm_kernel.h", "csrc/lstm_threads.h"],
    extra_compile_args=compile_args + ([] if sys.platform == "win32" else ["-pthread"]),
    extra_link_args=[] if sys.platform == "win32" else ["-pthread"],
)

setup(ext_modules=cythonize([core], compiler_directives={"language_level": "3"}))
