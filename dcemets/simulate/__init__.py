"""Simulator of realistic synthetic DCE-MRI spine exams with ground truth (the default data).

A world-space phantom of the spine with one vertebral metastasis is imaged as the exam of
Lang et al. (2019): a sagittal T2W series with a radiologist-like ROI, and an axial 3D SPGR
DCE series of 12 frames (Parker AIF, extended Tofts, SPGR signal, partial volume, Rician
noise), with per-primary kinetics calibrated to the paper's Table 1.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
