"""Benchmark of dcemets.io (run: python benchmarks/bench_io.py).

Prints, for a DCE series of the paper's size at the simulator's half grid (12 frames, 30 slices
of 128 x 96 voxels, int16 from DICOM / float64 otherwise):

* ``read_dce`` of a DICOM folder (360 one-slice files in shuffled order, oblique) against the
  plain SimpleITK recipe a user would otherwise write (``GetGDCMSeriesFileNames`` +
  ``ImageSeriesReader`` once per frame, with the frame split known in advance -- it does not
  order or time the frames, so it is a lower bound);
* ``write_dce`` + ``read_dce`` of a 4D ``.nii.gz`` (with integrity check and sidecar) against
  ``sitk.WriteImage`` + ``sitk.ReadImage`` of the same 4D image;
* ``DataArray.to_netcdf`` + ``xarray.load_dataarray`` of the same series;
* ``save_cohort`` + ``load_cohort`` per case.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "io"))
from conftest import OBLIQUE, write_dicom_series
from dcemets._conventions import make_dce
from dcemets.io import Case, load_cohort, read_dce, save_cohort, to_sitk, write_dce

NT, NZ, NY, NX = 12, 30, 96, 128
TIMES = np.arange(NT) * 12.0


def best(fn, repeat=3):
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def main() -> None:
    rng = np.random.default_rng(0)
    values = rng.integers(0, 3000, (NT, NZ, NY, NX)).astype(np.int16)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dcm = tmp / "dcm"
        t0 = time.perf_counter()
        write_dicom_series(dcm, values, times=TIMES, direction=OBLIQUE)
        print(f"(writing the synthetic DICOM series took {time.perf_counter() - t0:.2f} s)")

        def ours_dicom():
            return read_dce(dcm)

        def plain_dicom():
            files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(dcm))
            # a user would still have to split these by frame, sort and time them; we only
            # time the reads (a lower bound for the plain recipe)
            per = len(files) // NT
            frames = []
            for i in range(NT):
                reader = sitk.ImageSeriesReader()
                reader.SetFileNames(files[i * per : (i + 1) * per])
                frames.append(sitk.GetArrayFromImage(reader.Execute()))
            return frames

        dce = ours_dicom()
        assert np.array_equal(dce.values, values)
        t_ours = best(ours_dicom)
        t_plain = best(plain_dicom)
        print(
            f"read_dce(DICOM folder, {NT * NZ} files): {t_ours:.3f} s; plain SimpleITK series reads: "
            f"{t_plain:.3f} s; ratio {t_ours / t_plain:.2f}x"
        )

        fdce = make_dce(rng.random((NT, NZ, NY, NX)), TIMES, spacing=(1.95, 1.95, 3.0), direction=OBLIQUE)
        img4d = to_sitk(fdce, join=True)
        nii = tmp / "dce.nii.gz"
        t_ours = best(lambda: read_dce(write_dce(fdce, nii)), repeat=2)
        plain = tmp / "plain.nii.gz"

        def plain_round_trip():
            sitk.WriteImage(img4d, str(plain))
            return sitk.ReadImage(str(plain))

        t_plain = best(plain_round_trip, repeat=2)
        print(
            f"write_dce + read_dce (.nii.gz, float64 {fdce.nbytes / 1e6:.0f} MB): {t_ours:.3f} s; "
            f"sitk.WriteImage + ReadImage: {t_plain:.3f} s; ratio {t_ours / t_plain:.2f}x"
        )
        t_r_ours = best(lambda: read_dce(nii))
        t_r_plain = best(lambda: sitk.ReadImage(str(plain)))
        print(
            f"  read only: read_dce {t_r_ours:.3f} s; sitk.ReadImage {t_r_plain:.3f} s; ratio {t_r_ours / t_r_plain:.2f}x"
        )

        nc = tmp / "dce.nc"

        def netcdf_round_trip():
            fdce.to_netcdf(nc)
            return xr.load_dataarray(nc)

        t_nc = best(netcdf_round_trip, repeat=2)
        print(f"to_netcdf + load_dataarray: {t_nc:.3f} s; ratio to write_dce + read_dce {t_nc / t_ours:.2f}x")

        mask = fdce.isel(time=0, drop=True) > 0.5
        cases = [
            Case(f"s{i:02d}", fdce, label="lung", lesion_mask=mask, truth={"ktrans": 0.1}) for i in range(3)
        ]
        for compress in (False, True):
            t_save = best(
                lambda c=compress: save_cohort(cases, tmp / "cohort", compress=c, progress=False), repeat=1
            )
            t_load = best(lambda: load_cohort(tmp / "cohort", progress=False), repeat=1)
            print(
                f"save_cohort(compress={compress}): {t_save / 3:.3f} s per case; "
                f"load_cohort: {t_load / 3:.3f} s per case"
            )


if __name__ == "__main__":
    main()
