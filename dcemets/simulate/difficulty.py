"""How hard a simulated exam is: the ``difficulty`` presets of :func:`simulate_case`.

One frozen dataclass, :class:`Difficulty`, gathers every imperfection of a real exam that a
method may have to cope with; :data:`DIFFICULTIES` names three presets:

``"clean"``
    For unit tests and teaching: instantaneous frames (the model curve itself), no motion,
    SNR 200, perfect fat suppression, no additional lesions or compressions, a careful ROI.
``"realistic"`` (default)
    The paper's exam as it is acquired: each frame integrates its acquisition window with
    linear phase-encode ordering, motion in 30 % of cases (sub-voxel to ~2 mm), pre-contrast
    marrow SNR 20 (3 T VIBE, 3 mm slices), imperfect fat suppression, 25 % of cases with
    other lesions, 15 % with pathological height loss, a radiologist's loose or tight ROI,
    sometimes on a neighbouring slice.
``"hard"``
    For stress tests: motion in 80 % of cases and up to ~5 mm, SNR 10, poor fat suppression,
    more sclerotic and mixed lesions, more multi-level disease and compressions, sloppier ROIs.

Customise with :func:`dataclasses.replace`, e.g. ``replace(DIFFICULTIES["realistic"], snr=12)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["DIFFICULTIES", "Difficulty"]


@dataclass(frozen=True)
class Difficulty:
    """Imperfections of a simulated exam.

    Attributes
    ----------
    name : str
        Name of the setting (reported in ``case.meta["difficulty"]``).
    snr : float
        Pre-contrast signal of normal vertebral marrow over the noise sd of each channel.
    frame_integration : bool
        Integrate each frame over its acquisition window (k-space line ordering); ``False``
        samples each frame instantaneously at its k-space-centre time.
    motion_probability : float
        Fraction of cases in which the patient moves.
    bulk_motion_mm : float
        Scale (mm) of the bulk displacements between frames in a moving case.
    respiratory_mm : float
        Amplitude (mm, A-P) of the respiratory motion transmitted to the spine in a moving case.
    fat_suppression_residual : tuple of 2 float
        Range of the fraction of fat signal left by the spectral fat saturation (at the
        isocentre; it fails further out).
    sclerotic_weight : float
        Multiplies the per-primary probabilities of sclerotic and mixed lesions.
    extra_lesion_probability : float
        Probability of 1-2 additional lesions at other levels (the ROI marks the index one).
    height_loss_probability : float
        Probability of a pathological compression of the diseased vertebra.
    roi_error : float
        Scale of the imprecision of the radiologist's outline (margin, wobble, shift).
    roi_neighbour_probability : float
        Probability that the ROI is drawn on a neighbouring sagittal slice.

    Examples
    --------
    >>> from dcemets.simulate import DIFFICULTIES
    >>> [(d.name, d.snr) for d in DIFFICULTIES.values()]
    [('clean', 200.0), ('realistic', 20.0), ('hard', 10.0)]
    """

    name: str
    snr: float
    frame_integration: bool
    motion_probability: float
    bulk_motion_mm: float
    respiratory_mm: float
    fat_suppression_residual: tuple[float, float]
    sclerotic_weight: float
    extra_lesion_probability: float
    height_loss_probability: float
    roi_error: float
    roi_neighbour_probability: float

    def __post_init__(self) -> None:
        """Check the ranges."""
        for k in ("snr", "roi_error", "sclerotic_weight"):
            if not getattr(self, k) > 0:
                raise ValueError(f"Difficulty.{k} must be > 0, got {getattr(self, k)}")
        for k in (
            "motion_probability",
            "extra_lesion_probability",
            "height_loss_probability",
            "roi_neighbour_probability",
        ):
            if not 0 <= getattr(self, k) <= 1:
                raise ValueError(f"Difficulty.{k} must be in [0, 1], got {getattr(self, k)}")
        lo, hi = self.fat_suppression_residual
        if not 0 <= lo <= hi <= 1:
            raise ValueError(
                f"Difficulty.fat_suppression_residual must be 0 <= lo <= hi <= 1, got {(lo, hi)}"
            )


DIFFICULTIES: MappingProxyType[str, Difficulty] = MappingProxyType(
    {
        "clean": Difficulty("clean", 200.0, False, 0.0, 0.0, 0.0, (0.0, 0.0), 1.0, 0.0, 0.0, 0.5, 0.0),
        "realistic": Difficulty(
            "realistic", 20.0, True, 0.3, 0.8, 0.6, (0.08, 0.3), 1.0, 0.25, 0.15, 1.0, 0.15
        ),
        "hard": Difficulty("hard", 10.0, True, 0.8, 2.0, 1.5, (0.15, 0.5), 2.0, 0.6, 0.35, 1.7, 0.35),
    }
)
"""The three presets (read-only)."""


def check_difficulty(difficulty: str | Difficulty) -> Difficulty:
    """Resolve a preset name or check a :class:`Difficulty`."""
    if isinstance(difficulty, Difficulty):
        return difficulty
    if isinstance(difficulty, str) and difficulty in DIFFICULTIES:
        return DIFFICULTIES[difficulty]
    raise ValueError(
        f"`difficulty` must be one of {sorted(DIFFICULTIES)} or a Difficulty, got {difficulty!r}"
    )
