"""Tissue property table of the spine phantom (relaxation at 3 T, proton density, kinetics).

Every number carries its source.  Relaxation times are in vivo values at 3 T; kinetic
parameters of normal tissues are literature-typical extended-Tofts values, chosen so that
normal marrow enhances far less than metastases (max SE about 40-60 % vs 100-300 %), as in
DCE studies of the spine.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["LABELS", "TISSUES", "TissueProperties"]


@dataclass(frozen=True)
class TissueProperties:
    """Physical properties of one tissue class of the phantom.

    Attributes
    ----------
    label : int
        Integer label in the phantom's label volume.
    t10_s : float
        Pre-contrast longitudinal relaxation time T1 (s) at 3 T.
    t2_s : float
        Transverse relaxation time T2 (s) at 3 T (sets the T2W FSE contrast).
    pd : float
        Relative proton density (water = 1); an effective value for short-T2* tissue
        (cortical bone) whose signal is lost at the echo times used.
    ktrans : float
        Volume transfer constant (1/min).
    kep : float
        Efflux rate constant (1/min).
    vp : float
        Plasma volume fraction (1); for blood the plasma fraction ``1 - Hct`` of whole blood.
    source : str
        Where the values come from.

    Examples
    --------
    >>> m = TISSUES["muscle"]
    >>> m.t10_s, m.kep
    (0.898, 0.45)
    """

    label: int
    t10_s: float
    t2_s: float
    pd: float
    ktrans: float
    kep: float
    vp: float
    source: str


_STANISZ = "Stanisz GJ et al. MRM 2005;54:507-512, doi:10.1002/mrm.20605 (3 T)"
_DEBAZ = "de Bazelaire CMJ et al. Radiology 2004;230:652-659, doi:10.1148/radiol.2303021331 (3 T)"
_GOLD = "Gold GE et al. AJR 2004;183:343-351, doi:10.2214/ajr.183.2.1830343 (3 T)"
_KIN = "typical normal-tissue extended-Tofts values (Sourbron & Buckley, NMR Biomed 2013;26:1004, doi:10.1002/nbm.2940)"

TISSUES: MappingProxyType[str, TissueProperties] = MappingProxyType(
    {
        "air": TissueProperties(0, 1.0, 0.001, 0.0, 0.0, 0.0, 0.0, "no signal"),
        "fat": TissueProperties(
            1, 0.382, 0.068, 0.9, 0.01, 0.5, 0.01, f"T1/T2 subcutaneous fat: {_DEBAZ}; kinetics: {_KIN}"
        ),
        "muscle": TissueProperties(
            2, 0.898, 0.029, 0.8, 0.05, 0.45, 0.02, f"paravertebral muscle T1/T2: {_DEBAZ}; kinetics: {_KIN}"
        ),
        "marrow": TissueProperties(
            3,
            0.586,
            0.049,
            0.9,
            0.04,
            0.6,
            0.02,
            f"vertebral (L4) bone marrow T1/T2: {_DEBAZ}; kinetics: design choice giving normal "
            "adult marrow a max SE of about 40-60 %, well below the lesions (Lang et al. 2019, Table 1)",
        ),
        "cortex": TissueProperties(
            4, 0.9, 0.0005, 0.05, 0.0, 0.0, 0.0, "cortical bone: T2* < 1 ms, no signal at TE >= 1.5 ms"
        ),
        "posterior": TissueProperties(
            5,
            0.45,
            0.049,
            0.55,
            0.02,
            0.6,
            0.01,
            "posterior elements: fatty marrow in a thick cortex (T1 between marrow and fat, reduced "
            f"effective PD); {_DEBAZ}",
        ),
        "annulus": TissueProperties(
            6,
            1.0,
            0.045,
            0.7,
            0.002,
            0.1,
            0.0,
            f"disc annulus T1 ~ cartilage (Gold 2004: {_GOLD}); avascular",
        ),
        "nucleus": TissueProperties(
            7,
            1.25,
            0.11,
            0.95,
            0.002,
            0.1,
            0.0,
            "disc nucleus pulposus: T2 ~ 100-120 ms at 3 T (Marinelli NL et al. Spine 2009;34:520, "
            "doi:10.1097/BRS.0b013e318195dd44); avascular",
        ),
        "csf": TissueProperties(
            8,
            4.2,
            1.8,
            1.0,
            0.0,
            0.0,
            0.0,
            "CSF T1 ~ 4.2 s at 3 T (Lu H et al. JMRI 2005;22:13-22, doi:10.1002/jmri.20356); T2 ~ 1.8 s",
        ),
        "cord": TissueProperties(
            9, 0.993, 0.078, 0.75, 0.0, 0.0, 0.0, f"spinal cord: {_STANISZ}; blood-cord barrier"
        ),
        "viscera": TissueProperties(
            10,
            0.9,
            0.045,
            0.85,
            0.25,
            1.0,
            0.05,
            f"bowel/abdominal organs (liver-like T1/T2): {_DEBAZ}; {_KIN}",
        ),
        "blood": TissueProperties(
            11, 1.932, 0.275, 0.9, 0.0, 0.0, 0.58, f"arterial blood: {_STANISZ}; vp = 1 - Hct (Hct 0.42)"
        ),
        "vein": TissueProperties(
            12, 1.932, 0.275, 0.9, 0.0, 0.0, 0.58, f"venous blood (IVC): {_STANISZ}; vp = 1 - Hct"
        ),
        "lesion": TissueProperties(
            13,
            1.5,
            0.09,
            0.9,
            float("nan"),
            float("nan"),
            float("nan"),
            "viable metastasis: T1 ~ 1.3-1.7 s, T2 ~ 80-100 ms at 3 T, in the range of solid "
            f"soft tissue (prostate 1.6 s / 74 ms, cervix 1.6 s / 83 ms in {_DEBAZ}); T1 drawn per "
            "case (see PRIMARIES), kinetics drawn per case from the primary's distribution",
        ),
        "lung": TissueProperties(
            14,
            1.27,
            0.035,
            0.15,
            0.10,
            1.0,
            0.10,
            "lung parenchyma at 3 T: T1 ~ 1.2-1.3 s, proton density ~ 0.15-0.2 of tissue, short T2* "
            "(Stadler A et al. MRM 2005;53:1199-1203, doi:10.1002/mrm.20484); highly perfused",
        ),
        "kidney": TissueProperties(
            15,
            1.142,
            0.076,
            0.9,
            0.30,
            0.1,
            0.25,
            f"renal parenchyma (cortex) T1 1142 ms, T2 76 ms: {_DEBAZ}; PD 0.9 design choice; "
            "kinetics: the two-compartment filtration model of Sourbron SP et al. Invest Radiol "
            "2008;43:40-48, doi:10.1097/RLI.0b013e31815597c5 (healthy kidney: plasma volume "
            "~0.25-0.3 ml/ml, tubular flow ~0.3 ml/min/ml) mapped onto extended Tofts as vp 0.25, "
            "Ktrans = tubular flow 0.30 /min, kep 0.1 /min (tracer leaves the tubules after the "
            "2-min acquisition); values to verify against the paper's table",
        ),
    }
)
"""Properties of each tissue class, by name (read-only)."""

LABELS: MappingProxyType[str, int] = MappingProxyType({name: p.label for name, p in TISSUES.items()})
"""Integer label of each tissue class."""

MARROW_WATER_T1_S = 1.1
"""T1 (s, 3 T) of the water (haematopoietic) compartment of vertebral marrow.  With fat T1
0.382 s, a fat fraction of 0.45 gives the two-compartment mixture an effective T1 of 0.60 s,
the whole-marrow value of de Bazelaire et al. (2004) at L4 (0.586 s); design choice."""
MARROW_WATER_T2_S = 0.05
"""T2 (s) of the marrow water compartment (T2W contrast)."""
FAT_FSE_T2_S = 0.13
"""Apparent T2 (s) of fat on fast spin echo: J-coupling is broken by the echo train, so fat
is bright on FSE T2W (Henkelman RM et al. JMRI 1992;2:533-540, doi:10.1002/jmri.1880020511)."""
