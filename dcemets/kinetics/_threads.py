"""Private: the blocks and threads of the NumPy kinetics fits (Tofts, delay grids).

A fit over many voxels is cut into equal blocks (:func:`block_slices`, whose split depends on
the voxel count only, never on the thread count) fitted in threads (:func:`map_blocks`,
:func:`pmap`): NumPy releases the GIL in its array operations, so blocks run in parallel, and
each block writes into preallocated outputs, so results do not depend on the thread count.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from dcemets._conventions import one_blas_thread

#: Most voxels per block (the blocks of a call are equal, an even number of them when more
#: than one: balanced over 2 threads).  Larger blocks cut the per-block Python overhead (which
#: holds the GIL); 16384 measured fastest on 12-frame curves (8192: ~10 % slower on 1 thread).
BLOCK = 16384
#: Threads of the NumPy backend (None: the CPUs this process may use).  NumPy releases the GIL
#: in its array operations, so blocks fitted in threads run in parallel.
N_THREADS: int | None = None


def _n_cpus() -> int:
    """CPUs this process may use (``sched_getaffinity`` where the OS has it)."""
    aff = getattr(os, "sched_getaffinity", None)
    return len(aff(0)) if aff is not None else (os.cpu_count() or 1)


def n_threads(n_jobs: int | None = None) -> int:
    """Threads to use: `n_jobs`, else :data:`N_THREADS`, else the CPUs this process may use."""
    return max(1, int(n_jobs or N_THREADS or _n_cpus()))


def check_n_jobs(n_jobs: Any) -> int | None:
    """Validate the public ``n_jobs`` argument (None or a positive int)."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"`n_jobs` must be None (all available CPUs) or a positive int, got {n_jobs!r}")
    return int(n_jobs)


def block_slices(nv: int) -> list[slice]:
    """Consecutive equal blocks of at most :data:`BLOCK` of `nv` voxels.

    An even number of them when more than one (balanced over 2 threads); the split depends on
    `nv` only, never on the thread count.
    """
    nb = max(1, -(-nv // BLOCK))
    if nb > 1:
        nb += nb % 2
    size = max(1, -(-nv // nb))
    return [slice(s, min(s + size, nv)) for s in range(0, nv, size)]


def map_blocks(run: Callable[[slice], None], nv: int, n_jobs: int | None = None) -> None:
    """Call ``run(slice)`` on the blocks of :func:`block_slices` of `nv` voxels, in threads.

    NumPy releases the GIL in its array operations, so blocks run in parallel; `run` writes
    its results into preallocated arrays, so the outcome does not depend on the thread count.
    BLAS is held to one thread meanwhile (:func:`dcemets._conventions.one_blas_thread`).
    """
    slices = block_slices(nv)
    k = min(len(slices), n_threads(n_jobs))
    with one_blas_thread():
        if k <= 1:
            for sl in slices:
                run(sl)
        else:
            with ThreadPoolExecutor(k) as ex:
                list(ex.map(run, slices))


def pmap(fn: Callable[[Any], Any], items: Any, n_jobs: int | None = None) -> list[Any]:
    """``[fn(x) for x in items]`` in threads (order kept; BLAS held to one thread)."""
    items = list(items)
    k = min(len(items), n_threads(n_jobs))
    with one_blas_thread():
        if k <= 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(k) as ex:
            return list(ex.map(fn, items))
