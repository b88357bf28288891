"""Motion correction of DCE series: registration of the frames to a reference frame.

Uses the io-level geometry (:func:`dcemets.io.to_sitk`) and SimpleITK only; it sits on the
method row of the layers, beside ``segmentation`` and ``simulate``.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
