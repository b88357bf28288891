"""ROIs in lab formats: DICOM SEG, RTSTRUCT, label maps; SEG and Parametric Map writing (issue 22)."""

from __future__ import annotations

import numpy as np
import pytest

from dcemets._conventions import geometry, make_image, world_coordinates
from dcemets.io import read_dce, read_image, read_roi, write_image, write_parametric_map, write_seg

pytest.importorskip("highdicom")

TIMES = [0.0, 12.5, 25.0]


@pytest.fixture
def dce_dicom(tmp_path, dicom_writer, oblique):
    """An oblique 3-frame DCE written as classic DICOM, and the DataArray read from it."""
    rng = np.random.default_rng(3)
    values = rng.integers(0, 1000, (3, 5, 12, 14)).astype(np.int16)
    folder = tmp_path / "dce"
    dicom_writer(folder, values, times=TIMES, direction=oblique)
    return folder, read_dce(folder)


def _blob(dce):
    z, y, x = np.ogrid[:5, :12, :14]
    m = (z >= 1) & (z <= 3) & ((y - 6) ** 2 + (x - 7) ** 2 <= 9)
    return (dce.isel(time=0, drop=True) * 0 + m).astype(bool)


def _same_geometry(a, b, atol=1e-4):
    ga, gb = geometry(a), geometry(b)
    np.testing.assert_allclose(ga.origin, gb.origin, atol=atol)
    np.testing.assert_allclose(ga.spacing, gb.spacing, atol=atol)
    np.testing.assert_allclose(ga.direction, gb.direction, atol=1e-6)
    assert ga.size == gb.size


def test_seg_round_trip(tmp_path, dce_dicom):
    folder, dce = dce_dicom
    mask = _blob(dce)
    path = write_seg(mask, tmp_path / "seg.dcm", source=folder, label="lesion")
    back = read_roi(path)
    np.testing.assert_array_equal(back.values, mask.values)
    _same_geometry(back, dce)  # DS strings keep ~1e-5 mm
    assert back.attrs["roi_label"] == "lesion"
    assert back.attrs["roi_source"] == "DICOM SEG"
    assert back.attrs["frame_of_reference"] == dce.attrs["frame_of_reference"]
    on_dce = read_roi(path, reference=dce)  # exactly the DCE's coordinates
    np.testing.assert_array_equal(on_dce.values, mask.values)
    assert (on_dce.x.values == dce.x.values).all()
    assert (on_dce.z.values == dce.z.values).all()
    assert float((dce * on_dce).isel(time=0).sum()) == float(dce.isel(time=0).values[mask.values].sum())


def test_seg_of_cropped_slices_placed_on_reference(tmp_path, dce_dicom):
    folder, dce = dce_dicom
    mask = _blob(dce)
    sub = mask.isel(z=slice(1, 4), y=slice(2, 11))  # a SEG holding only the lesion's slices
    path = write_seg(sub, tmp_path / "seg.dcm", source=folder)
    own = read_roi(path)
    assert own.shape == (3, 9, 14)
    np.testing.assert_allclose(world_coordinates(own), world_coordinates(sub), atol=1e-4)
    full = read_roi(path, reference=dce)
    np.testing.assert_array_equal(full.values, mask.values)


def test_seg_on_sagittal_t2w_transferred_to_dce(tmp_path, dicom_writer, sagittal, dce_dicom):
    from dcemets.segmentation import transfer_roi

    _, dce = dce_dicom
    t2 = tmp_path / "t2w"
    centre = world_coordinates(dce)[2, 6, 7]  # the sagittal T2W is centred on the DCE
    origin = centre - sagittal @ (np.array([1.0, 1.0, 3.5]) * [15, 15, 1.5])
    dicom_writer(
        t2,
        np.ones((1, 4, 30, 30), np.int16),
        times=[0.0],
        direction=sagittal,
        spacing=(1.0, 1.0, 3.5),
        origin=origin,
        timing=(),
    )
    t2w = read_image(t2)
    outline = (t2w * 0 + 0).astype(bool)
    outline[1:3, 12:18, 12:18] = True
    back = read_roi(write_seg(outline, tmp_path / "seg.dcm", source=t2), reference=t2w)
    np.testing.assert_array_equal(back.values, outline.values)
    with pytest.raises(ValueError, match=r"transfer_roi"):
        read_roi(tmp_path / "seg.dcm", reference=dce)
    moved = transfer_roi(back, dce)  # the paper's ROI transfer, in world space
    assert moved.shape == dce.shape[1:]
    assert moved.values.any()
    np.testing.assert_allclose(  # the transferred mask sits where the outline is, in world space
        world_coordinates(moved)[moved.values].mean(axis=0),
        world_coordinates(back)[back.values].mean(axis=0),
        atol=2.0,
    )


def test_seg_from_enhanced_source(tmp_path, enhanced_writer, oblique):
    from dcemets._conventions import make_dce

    values = np.arange(2 * 3 * 6 * 7).reshape(2, 3, 6, 7).astype(np.uint16)
    src = make_dce(
        values, [0.0, 10.0], spacing=(0.9, 0.8, 3.0), origin=(-40.0, -30.0, 12.5), direction=oblique
    )
    path = enhanced_writer(tmp_path / "mf" / "dce.dcm", values, times=[0.0, 10.0])
    dce = read_dce(path)
    mask = dce.isel(time=0, drop=True) > 60
    back = read_roi(write_seg(mask, tmp_path / "seg.dcm", source=path))
    np.testing.assert_array_equal(back.values, mask.values)
    _same_geometry(back, src)


def test_parametric_map_round_trip(tmp_path, dce_dicom):
    import pydicom

    folder, dce = dce_dicom
    ktrans = dce.isel(time=1, drop=True).astype(float) / 1000.0
    ktrans = ktrans.where(_blob(dce))  # NaN outside the fitted mask
    ktrans.name, ktrans.attrs["units"] = "ktrans", "1/min"
    path = write_parametric_map(ktrans, tmp_path / "ktrans.dcm", source=folder)
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30"
    assert (
        ds.ReferencedSeriesSequence[0].SeriesInstanceUID
        == pydicom.dcmread(next(folder.iterdir())).SeriesInstanceUID
    )
    rwvm = ds.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
    assert rwvm.MeasurementUnitsCodeSequence[0].CodeValue == "1/min"
    # every frame sits on a slice of the map (highdicom may store them in another order)
    pos = np.asarray(
        [f.PlanePositionSequence[0].ImagePositionPatient for f in ds.PerFrameFunctionalGroupsSequence], float
    )
    planes = world_coordinates(ktrans)[:, 0, 0]
    k = np.argmin(np.linalg.norm(pos[:, None] - planes[None], axis=-1), axis=1)
    np.testing.assert_allclose(pos, planes[k], atol=1e-4)
    assert sorted(k.tolist()) == list(range(ktrans.sizes["z"]))
    np.testing.assert_allclose(ds.pixel_array, ktrans.values[k].astype(np.float32), equal_nan=True)


def _ellipse_contour(centre, a, b, u, v, n=720):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return centre + np.outer(a * np.cos(t), u) + np.outer(b * np.sin(t), v)


def test_rtstruct_ellipse_area_and_voxels(tmp_path, rtstruct_writer, oblique):
    ref = make_image(
        np.zeros((5, 80, 90)), spacing=(0.5, 0.4, 3.0), origin=(-10.0, 5.0, 20.0), direction=oblique
    )
    ref.attrs["frame_of_reference"] = "1.2.826.0.1.3680043.2.1125.77"
    g = geometry(ref)
    d = g.direction_matrix
    u, v = d[:, 0], d[:, 1]
    centre = world_coordinates(ref)[2, 40, 45] + 0.13 * u - 0.07 * v  # off the voxel centres
    a, b = 12.0, 7.5  # mm
    path = rtstruct_writer(tmp_path / "rt.dcm", {"lesion": [_ellipse_contour(centre, a, b, u, v)]})
    roi = read_roi(path, reference=ref)
    assert roi.dtype == bool
    assert roi.attrs["roi_label"] == "lesion"
    assert roi.values[[0, 1, 3, 4]].sum() == 0
    area = roi.values[2].sum() * 0.5 * 0.4
    assert area == pytest.approx(np.pi * a * b, rel=0.01)
    # voxel-by-voxel: centres clearly inside/outside the analytic ellipse
    w = world_coordinates(ref)[2] - centre
    f = (w @ u / a) ** 2 + (w @ v / b) ** 2
    clear = np.abs(f - 1) > 0.03
    np.testing.assert_array_equal(roi.values[2][clear], (f < 1)[clear])


def test_rtstruct_hole_and_choice(tmp_path, rtstruct_writer, oblique):
    ref = make_image(np.zeros((3, 60, 60)), spacing=(0.5, 0.5, 3.0), direction=oblique)
    d = geometry(ref).direction_matrix
    c = world_coordinates(ref)[1, 30, 30]
    outer = _ellipse_contour(c, 10.0, 10.0, d[:, 0], d[:, 1])
    inner = _ellipse_contour(c, 5.0, 5.0, d[:, 0], d[:, 1])
    path = rtstruct_writer(tmp_path / "rt.dcm", {"ring": [outer, inner], "core": [inner]})
    with pytest.raises(ValueError, match=r"2 ROIs \(1 'ring', 2 'core'\); choose one with `label=`"):
        read_roi(path, reference=ref)
    ring = read_roi(path, reference=ref, label="ring")
    core = read_roi(path, reference=ref, label=2)
    assert ring.values[1].sum() * 0.25 == pytest.approx(np.pi * 75.0, rel=0.02)
    assert not (ring.values & core.values).any()
    with pytest.raises(ValueError, match=r"pass `reference=`"):
        read_roi(path, label="ring")
    off = make_image(np.zeros((3, 60, 60)), spacing=(0.5, 0.5, 3.0), origin=(0, 0, 1.5), direction=oblique)
    with pytest.raises(ValueError, match=r"does not lie on a slice of `reference`"):
        read_roi(path, reference=off, label="ring")
    other = ref.copy()
    other.attrs["frame_of_reference"] = "1.2.3"
    with pytest.raises(ValueError, match=r"frame of reference"):
        read_roi(path, reference=other, label="ring")


def test_label_map(tmp_path, dce_dicom):
    _, dce = dce_dicom
    labels = np.zeros(dce.shape[1:], np.uint8)
    labels[2, 3:5, 4:6] = 1
    labels[3, 6:9, 6:9] = 2
    img = make_image(
        labels, spacing=geometry(dce).spacing, origin=geometry(dce).origin, direction=geometry(dce).direction
    )
    path = write_image(img, tmp_path / "labels.nii.gz")
    two = read_roi(path, label=2, reference=dce)
    np.testing.assert_array_equal(two.values, labels == 2)
    assert (two.y.values == dce.y.values).all()
    both = read_roi(path)
    np.testing.assert_array_equal(both.values, labels > 0)
    with pytest.raises(ValueError, match=r"`label`=3 is not a value of the label map"):
        read_roi(path, label=3)
    with pytest.raises(TypeError, match=r"`label`"):
        read_roi(path, label=2.5)
    with pytest.raises(TypeError, match=r"`reference`"):
        read_roi(path, reference=np.zeros((2, 2, 2)))


def test_write_seg_errors(tmp_path, dce_dicom):
    folder, dce = dce_dicom
    mask = _blob(dce)
    with pytest.raises(TypeError, match=r"`mask`"):
        write_seg(dce.isel(time=0, drop=True).astype(float), tmp_path / "s.dcm", source=folder)
    with pytest.raises(ValueError, match=r"`algorithm_type`"):
        write_seg(mask, tmp_path / "s.dcm", source=folder, algorithm_type="GUESS")
    other = mask.copy()
    other.attrs["frame_of_reference"] = "1.2.3"
    with pytest.raises(ValueError, match=r"frame of reference"):
        write_seg(other, tmp_path / "s.dcm", source=folder)
    with pytest.raises(FileNotFoundError):
        write_seg(mask, tmp_path / "s.dcm", source=tmp_path / "nowhere")


def test_cohort_of_dicom_with_seg_and_rtstruct(tmp_path, dce_dicom, dicom_writer, rtstruct_writer, sagittal):
    """load_cohort on DICOM studies whose ROIs are a SEG (on the DCE) and an RTSTRUCT (on the T2W)."""
    import shutil

    from dcemets.io import load_cohort

    folder, dce = dce_dicom
    case = tmp_path / "cohort" / "p01"
    shutil.copytree(folder, case / "dce")
    mask = _blob(dce)
    write_seg(mask.isel(z=slice(1, 4)), case / "lesion_seg.dcm", source=case / "dce")
    centre = world_coordinates(dce)[2, 6, 7]
    origin = centre - sagittal @ (np.array([1.0, 1.0, 3.5]) * [15, 15, 1.5])
    dicom_writer(
        case / "t2w",
        np.ones((1, 4, 30, 30), np.int16),
        times=[0.0],
        direction=sagittal,
        spacing=(1.0, 1.0, 3.5),
        origin=origin,
        timing=(),
        extra={"0020|000e": "1.2.9"},
    )
    t2w = read_image(case / "t2w")
    d = geometry(t2w).direction_matrix
    ring = _ellipse_contour(world_coordinates(t2w)[1, 15, 15], 6.0, 4.0, d[:, 0], d[:, 1])
    rtstruct_writer(case / "rt.dcm", {"lesion": [ring]})
    (tmp_path / "cohort" / "manifest.csv").write_text(
        "subject_id,label,dce,t2w_sagittal,roi_sagittal,lesion_mask\n"
        "p01,lung,p01/dce,p01/t2w,p01/rt.dcm,p01/lesion_seg.dcm\n",
        encoding="utf-8",
    )
    (loaded,) = load_cohort(tmp_path / "cohort", progress=False)
    np.testing.assert_allclose(loaded.dce.time.values, TIMES, atol=1e-5)
    np.testing.assert_array_equal(loaded.lesion_mask.values, mask.values)
    assert loaded.roi_sagittal.shape == t2w.shape
    assert loaded.roi_sagittal.values[1].sum() * 1.0 == pytest.approx(np.pi * 24.0, rel=0.1)
    assert loaded.roi_sagittal.values[[0, 2, 3]].sum() == 0


def test_series_folder_holding_seg_and_rtstruct(tmp_path, dce_dicom, rtstruct_writer):
    """A lab's export folder: the DCE files plus a SEG and an RTSTRUCT beside them."""
    folder, dce = dce_dicom
    write_seg(_blob(dce), tmp_path / "seg.dcm", source=folder)
    (tmp_path / "seg.dcm").rename(folder / "zz_seg.dcm")
    d = geometry(dce).direction_matrix
    ring = _ellipse_contour(world_coordinates(dce)[2, 6, 7], 2.0, 2.0, d[:, 0], d[:, 1])
    rtstruct_writer(folder / "00_rt.dcm", {"lesion": [ring]})  # sorts first
    again = read_dce(folder)
    np.testing.assert_array_equal(again.values, dce.values)
    np.testing.assert_allclose(again.time.values, TIMES, atol=1e-5)


def test_fractional_seg_with_two_segments(tmp_path, dce_dicom):
    """A FRACTIONAL SEG of two segments, written with highdicom as another tool would."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    folder, dce = dce_dicom
    files = sorted(folder.iterdir())
    headers = [pydicom.dcmread(f) for f in files]
    first = sorted(
        (h for h in headers if int(h.TemporalPositionIdentifier) == 1), key=lambda h: h.InstanceNumber
    )
    prob = np.zeros((len(first), 12, 14), np.float32)
    prob[2, 3:6, 4:8] = 0.8  # segment 1: above one half
    prob[2, 6, 4:8] = 0.3  # ... and below
    other = np.zeros_like(prob)
    other[3, 8:10, 8:10] = 1.0
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=i,
            segment_label=name,
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=codes.SCT.Neoplasm,
            algorithm_type="MANUAL",
        )
        for i, name in ((1, "lesion"), (2, "vertebra"))
    ]
    seg = hd.seg.Segmentation(
        source_images=first,
        pixel_array=np.stack([prob, other], axis=-1),
        segmentation_type="FRACTIONAL",
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=5,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="another tool",
        manufacturer_model_name="x",
        software_versions="1",
        device_serial_number="1",
    )
    seg.save_as(tmp_path / "frac.dcm")
    with pytest.raises(ValueError, match=r"2 segments \(1 'lesion', 2 'vertebra'\)"):
        read_roi(tmp_path / "frac.dcm", reference=dce)
    lesion = read_roi(tmp_path / "frac.dcm", reference=dce, label="lesion")
    expected = np.zeros(dce.shape[1:], bool)
    expected[2, 3:6, 4:8] = True
    np.testing.assert_array_equal(lesion.values, expected)
    vertebra = read_roi(tmp_path / "frac.dcm", reference=dce, label=2)
    assert vertebra.values.sum() == 4
    assert vertebra.values[3, 8:10, 8:10].all()
