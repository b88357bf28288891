"""DCE kinetics: heuristics, parametric maps, concentration, AIFs, Tofts models and fits.

NumPy cores (time on the last axis) under xarray wrappers (``apply_ufunc`` with
``dask="parallelized"``), validated against the OSIPI DCE code-collection test data and the
QIBA DCE digital reference objects.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
