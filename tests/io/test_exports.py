"""What ``dcemets.io`` exports from elsewhere is the very object of its home."""

from __future__ import annotations

import pytest

import dcemets.geometry
import dcemets.io


def test_geometry_helpers_are_those_of_dcemets_geometry():
    for name in ("world_coordinates", "index_from_world"):
        assert getattr(dcemets.io, name) is getattr(dcemets.geometry, name)
        assert name in dcemets.io.__all__
        assert name in dir(dcemets.io)


def test_case_record_is_the_one_simulate_makes():
    import dcemets._records
    from dcemets.io import Case, validate_subject_id

    assert Case is dcemets._records.Case
    assert validate_subject_id is dcemets._records.validate_subject_id
    assert {"Case", "validate_subject_id"} <= set(dcemets.io.__all__)


def test_an_unknown_name_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        dcemets.io.no_such_name
