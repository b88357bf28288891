"""Benchmark of vendor DICOM reading in dcemets.io (run: python benchmarks/bench_dicom.py).

Prints the time of ``read_dce`` for

* a single-slice GE-style series of 1321 files (the QIBA DRO v6 layout: 1321 frames 0.5 s
  apart, 80 x 60 pixels (the DRO files hold about 9.7 kB each), TriggerTime on every file but
  the first, shuffled names), against the
  SimpleITK recipe a user would otherwise write (``ImageSeriesReader`` over the files in
  InstanceNumber order, which neither checks nor times the frames: a lower bound);
* an enhanced multi-frame MR file of the paper's size (12 frames x 20 slices x 256 x 256,
  uint16, frames stored shuffled), against ``pydicom.dcmread`` + ``pixel_array`` (the raw
  frames without geometry, order or times: a lower bound).

Each figure is the best of 3 runs; the series are written with the test fixtures of
tests/io/conftest.py.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "io"))
from conftest import write_dicom_series, write_enhanced_mr
from dcemets.io import read_dce


def best(fn, repeat=3):
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n = 1321
        times = np.arange(n) * 0.5
        values = (np.arange(n * 80 * 60).reshape(n, 1, 80, 60) % 2000).astype(np.int16)
        t0 = time.perf_counter()
        files = write_dicom_series(
            tmp / "dro", values, times=times, timing=("trigger", "acq_start"), omit={"trigger": [0]}
        )
        print(f"(writing the {n}-file series took {time.perf_counter() - t0:.1f} s)")

        def ours():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "TriggerTime missing on 1 frame"
                dce = read_dce(tmp / "dro")
            assert np.allclose(dce.time.values, times)

        by_instance = [files[i] for i in range(n)]  # written in time order: InstanceNumber order

        def baseline():
            reader = sitk.ImageSeriesReader()
            reader.SetFileNames([str(p) for p in by_instance])
            reader.Execute()

        a, b = best(ours), best(baseline)
        print(
            f"read_dce, {n}-file single-slice series: {a:.2f} s; ImageSeriesReader {b:.2f} s; ratio {a / b:.2f}"
        )

        nt, nz = 12, 20
        rng = np.random.default_rng(0)
        big = rng.integers(0, 4000, (nt, nz, 256, 256)).astype(np.uint16)
        path = write_enhanced_mr(tmp / "mf" / "dce.dcm", big, times=np.arange(nt) * 12.0)
        size = path.stat().st_size / 2**20

        def ours_mf():
            dce = read_dce(path)
            assert dce.shape == (nt, nz, 256, 256)

        def baseline_mf():
            import pydicom

            pydicom.dcmread(str(path)).pixel_array  # noqa: B018

        a, b = best(ours_mf), best(baseline_mf)
        print(
            f"read_dce, enhanced MR {nt}x{nz}x256x256 ({size:.0f} MB): {a:.2f} s; "
            f"pydicom dcmread + pixel_array {b:.2f} s; ratio {a / b:.2f}"
        )


if __name__ == "__main__":
    main()
