"""Benchmark: 20 GLCM features of a 3D ROI, dcemets vs PyRadiomics (when importable).

Setup (the issue's): a 64 x 64 x 30 float map, an ellipsoid ROI of 40 x 40 x 20 voxels
(16,645 voxels), fixed bin number 32, distance 1, symmetric GLCM over 13 directions.
Times are medians over repeated runs, discretisation included.

Run: ``python benchmarks/bench_radiomics.py``.  PyRadiomics is optional (never a dependency):
``pip install numpy wheel && pip install --no-build-isolation pyradiomics==3.0.1``.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from dcemets import make_image
from dcemets.radiomics import glcm_features, histogram_features

REPEATS = 60


def timings_ms(fn, repeats: int = REPEATS) -> tuple[float, float]:
    """Median wall time and median CPU time of this process per call (ms).

    On a loaded machine the wall time includes the time slices given to other processes;
    the CPU time (``time.process_time``) does not.
    """
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return 1e3 * float(np.median(wall)), 1e3 * float(np.median(cpu))


def setup() -> tuple[np.ndarray, np.ndarray]:
    z, y, x = np.mgrid[:30, :64, :64].astype(np.float64)
    vol = 100 + 80 * np.sin(0.37 * x) * np.cos(0.23 * y) + 15 * np.cos(0.5 * z + 0.1 * x)
    roi = ((x - 32) / 20) ** 2 + ((y - 32) / 20) ** 2 + ((z - 15) / 10) ** 2 <= 1
    return vol, roi


PYRAD_TO_OURS = {
    "Autocorrelation": "autocorrelation",
    "ClusterProminence": "cluster_prominence",
    "ClusterShade": "cluster_shade",
    "ClusterTendency": "sum_variance",
    "Contrast": "contrast",
    "Correlation": "correlation_1",
    "DifferenceAverage": "dissimilarity",
    "DifferenceEntropy": "difference_entropy",
    "DifferenceVariance": "difference_variance",
    "Id": "homogeneity_1",
    "Idm": "homogeneity_2",
    "Imc1": "information_correlation_1",
    "Imc2": "information_correlation_2",
    "JointEnergy": "energy",
    "JointEntropy": "entropy",
    "MaximumProbability": "maximum_probability",
    "SumAverage": "sum_average",
    "SumEntropy": "sum_entropy",
    "SumSquares": "information_entropy",
}


def main() -> None:
    vol, roi = setup()
    print(f"map {vol.shape} (z, y, x), ROI {int(roi.sum())} voxels, 32 levels, 13 directions")
    print(f"{'':50s} {'wall':>9s} {'CPU':>9s}   (medians over runs)")
    results: dict[str, tuple[float, float]] = {}
    for agg in ("3d_average", "3d_merged"):
        results[f"dcemets glcm_features {agg} (numpy)"] = timings_ms(
            lambda agg=agg: glcm_features(vol, roi, bin_count=32, aggregation=agg)
        )
    img, msk = make_image(vol), make_image(roi)
    results["dcemets glcm_features 3d_average (DataArray)"] = timings_ms(
        lambda: glcm_features(img, msk, bin_count=32)
    )
    results["dcemets histogram_features (numpy)"] = timings_ms(lambda: histogram_features(vol, roi))
    for name, (w, c) in results.items():
        print(f"{name:50s} {w:6.2f} ms {c:6.2f} ms")
    w, c = results["dcemets glcm_features 3d_average (numpy)"]
    print(
        f"target < 3 ms for 20 GLCM features (3D averaged): wall {w:.2f} ms "
        f"({'met' if w < 3 else 'NOT met'}), CPU {c:.2f} ms ({'met' if c < 3 else 'NOT met'})"
    )

    try:
        import SimpleITK as sitk
        from radiomics import featureextractor, glcm, setVerbosity
    except ImportError:
        print("PyRadiomics: skipped (not importable; install it to compare)")
        return
    setVerbosity(logging.ERROR)
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    image = sitk.GetImageFromArray(vol)
    mask = sitk.GetImageFromArray(roi.astype(np.uint8))
    settings = {"binCount": 32, "distances": [1], "symmetricalGLCM": True}

    def pyrad_class(**extra):
        def run():
            c = glcm.RadiomicsGLCM(image, mask, **settings, **extra)
            c.enableAllFeatures()
            return c.execute()

        return run

    def pyrad_extractor(**extra):
        ex = featureextractor.RadiomicsFeatureExtractor(**settings, **extra)
        ex.disableAllFeatures()
        ex.enableFeatureClassByName("glcm")

        def run():
            return ex.execute(image, mask)

        return run

    cmp = {
        "PyRadiomics RadiomicsGLCM class, 3D averaged": (pyrad_class(), "3d_average"),
        "PyRadiomics RadiomicsGLCM class, 3D merged": (
            pyrad_class(weightingNorm="no_weighting"),
            "3d_merged",
        ),
        "PyRadiomics extractor (glcm only), 3D averaged": (pyrad_extractor(), "3d_average"),
    }
    for name, (fn, agg) in cmp.items():
        w, c = timings_ms(fn, repeats=15)
        mw, mc = results[f"dcemets glcm_features {agg} (numpy)"]
        print(f"{name:50s} {w:6.2f} ms {c:6.2f} ms   dcemets faster: {w / mw:4.1f}x wall, {c / mc:4.1f}x CPU")
    # agreement in the same run
    theirs = pyrad_class()()
    mine_f = glcm_features(vol, roi, bin_count=32)
    rel = max(abs(mine_f[v] / float(theirs[k]) - 1) for k, v in PYRAD_TO_OURS.items())
    print(f"max relative difference over the 19 shared features (3D averaged): {rel:.1e}")


if __name__ == "__main__":
    main()
