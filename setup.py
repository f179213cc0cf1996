"""Builds the optional compiled book parser (core/_kernel.pyx) in place: `make venv` runs it.

The app works without it (pure-Python path, identical results, about 7-9x the CPU per tick); the Latency
page and `make bench` say which path ran.
"""

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    name="trade-cost-simulator-kernel",
    ext_modules=cythonize(
        [
            Extension(
                "core._kernel",
                ["core/_kernel.pyx"],
                include_dirs=[numpy.get_include()],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                # no fused multiply-add: the cumulative sums must equal numpy's bit for bit
                extra_compile_args=["-O2", "-ffp-contract=off"],
            )
        ],
        compiler_directives={"language_level": 3},
    ),
)
