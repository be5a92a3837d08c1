"""Small memory pages while a compile pass runs: numpy's transparent-huge-page advice off, then restored.

NumPy asks Linux for transparent huge pages on every array of 4 MB or more (`madvise(MADV_HUGEPAGE)`). Where a
fresh 2 MB page is expensive to fault in — measured on the development machine, a Firecracker VM with THP defrag
`madvise`: 30–60 µs of system time per fault — passes that allocate and drop hundreds of MB of short-lived arrays
spend much of their time in the kernel: `quantize` at 100k neurons / 5M synapses took 1.03–1.24 s with the
advice (0.55–0.71 s of it system time) and 0.73–0.75 s without (0.2 s) in fresh processes (issue 16, goal 3).
NumPy documents the switch (`NUMPY_MADVISE_HUGEPAGE`, "Global state"); a user who sets that variable keeps
their choice. The advice only picks page sizes: no value changes.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import numpy as np

_P = ParamSpec("_P")
_R = TypeVar("_R")
_set_advice = getattr(np.core.multiarray, "_set_madvise_hugepage", None)


def small_pages(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run `function` with numpy's huge-page advice off (unless NUMPY_MADVISE_HUGEPAGE is set), then restore it."""

    @functools.wraps(function)
    def with_small_pages(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if _set_advice is None or "NUMPY_MADVISE_HUGEPAGE" in os.environ:
            return function(*args, **kwargs)
        previous = _set_advice(False)
        try:
            return function(*args, **kwargs)
        finally:
            _set_advice(previous)

    return with_small_pages
