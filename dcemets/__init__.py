"""dcemets: DCE-MRI analysis of spinal metastases (Lang et al. 2019) as a library.

Submodules load on first use (``import dcemets`` stays cheap):

``dcemets.io``, ``dcemets.kinetics``, ``dcemets.simulate``, ``dcemets.segmentation``,
``dcemets.radiomics``, ``dcemets.registration``, ``dcemets.classify``, ``dcemets.models`` (PyTorch),
``dcemets.evaluation``, ``dcemets.study``; ``dcemets.geometry`` builds and checks the DataArrays
they exchange.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)

try:
    from importlib.metadata import PackageNotFoundError as _PNF
    from importlib.metadata import version as _version

    __version__ = _version("dcemets")
except _PNF:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"
