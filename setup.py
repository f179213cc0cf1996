"""Builds the optional compiled twins in place (``make venv`` runs it); ``core.compiled`` loads them.

- ``core/feed/_goquant.pyx``: GoQuant message bytes -> validated book arrays (twin of ``core/feed/goquant.py``)
- ``core/feed/_okx.pyx``: OKX ``books`` message -> validated levels -> maintained book, checksum and snapshot
  arrays (twin of ``core/feed/okx.py``); both parsers share ``core/feed/_parsing.pxd``
- ``core/costs/_walk.pyx``: the book walk, depth line and banded depth (twins in ``core/costs/``)
- ``core/learned/_nets.pyx``: the nets' forward pass for one row (twin of ``core/learned/nets.py``)

The app works without them (pure-Python path, identical results, about 7-9x the CPU per tick); the Latency
page and `make bench` say which path ran.
"""

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

MODULES = ("core.feed._goquant", "core.feed._okx", "core.costs._walk", "core.learned._nets")

setup(
    name="trade-cost-simulator-kernels",
    ext_modules=cythonize(
        [
            Extension(
                name,
                [name.replace(".", "/") + ".pyx"],
                include_dirs=[numpy.get_include()],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                # no fused multiply-add: the cumulative sums must equal numpy's bit for bit
                extra_compile_args=["-O2", "-ffp-contract=off"],
            )
            for name in MODULES
        ],
        compiler_directives={"language_level": 3},
    ),
)
