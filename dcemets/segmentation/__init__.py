"""Semi-automatic 3D lesion segmentation (Lang et al. 2019, section 2.4, Fig. 3).

Sagittal outline -> axial search region -> normalized cut -> region growing, each step a
public function so that any of them can be swapped.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
