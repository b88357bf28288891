"""The Case record."""

from __future__ import annotations

import numpy as np

from dcemets._conventions import like, make_dce
from dcemets.io import Case


def test_defaults_and_repr():
    dce = make_dce(np.zeros((3, 1, 2, 2)), [0.0, 1.0, 2.0])
    case = Case(
        "s1", dce, lesion_mask=like(dce, np.zeros((1, 2, 2), bool)), truth={"kep": 0.4, "ktrans": 0.1}
    )
    assert case.truth == {"kep": 0.4, "ktrans": 0.1}
    assert Case("s2", dce).truth == {}  # no shared mutable default
    assert Case("s2", dce).truth is not Case("s3", dce).truth
    text = repr(case)
    assert text == (
        "Case(subject_id='s1', primary=None, label=None, dce=(time: 3, z: 1, y: 2, x: 2), "
        "lesion_mask=(z: 1, y: 2, x: 2), truth=['kep', 'ktrans'], meta=[])"
    )
