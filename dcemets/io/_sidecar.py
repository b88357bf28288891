"""Private BIDS-style JSON sidecars: acquisition fields, dcemets attrs and exact geometry."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from dcemets._conventions import _GEOMETRY_KEYS, _version, geometry
from dcemets.io._files import jsonable, netcdf_safe, read_json, sidecar_of

#: BIDS sidecar key -> (dcemets attr, scale to dcemets units); the first key present wins
ACQ_KEYS = (
    ("RepetitionTimeExcitation", "tr_s", 1.0),
    ("RepetitionTime", "tr_s", 1.0),
    ("EchoTime", "te_s", 1.0),
    ("FlipAngle", "flip_angle_deg", 1.0),
    ("MagneticFieldStrength", "field_strength_T", 1.0),
)
#: the file's geometry and the sidecar's must agree to this (mm) for the sidecar's to be used
GEOMETRY_MATCH_MM = 1e-3


def read_sidecar(image_path: Path) -> dict[str, Any]:
    """The JSON sidecar of `image_path` (``{}`` if there is none)."""
    side = sidecar_of(image_path)
    return read_json(side) if side.is_file() else {}


def attrs_from(meta: dict[str, Any], sidecar: Path | None = None) -> dict[str, Any]:
    """Attrs from the BIDS acquisition fields and the ``"dcemets"`` block of a sidecar.

    An acquisition field that is present (not null) must be a finite number: anything else
    (``"FlipAngle": "ten"``) raises a ValueError naming the field and the `sidecar` file
    rather than being dropped.
    """
    attrs: dict[str, Any] = {}
    for key, attr, scale in ACQ_KEYS:
        value = meta.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
            where = f"'{sidecar}'" if sidecar is not None else "the JSON sidecar"
            raise ValueError(
                f"{where}: {key!r} must be a finite number (BIDS units: s for times, degrees for "
                f"FlipAngle, T for MagneticFieldStrength), got {value!r}; fix or remove the field"
            )
        if attr not in attrs:
            attrs[attr] = float(value) * scale
    own = meta.get("dcemets")
    if isinstance(own, dict) and isinstance(own.get("attrs"), dict):
        attrs.update({k: v for k, v in own["attrs"].items() if netcdf_safe(v)})
    return attrs


def own_field(meta: dict[str, Any], key: str, default: Any) -> Any:
    """A field of the ``"dcemets"`` block, or `default`."""
    own = meta.get("dcemets")
    return own.get(key, default) if isinstance(own, dict) else default


def exact_geometry(
    meta: dict[str, Any], origin: Sequence[float], spacing: Sequence[float], direction: Sequence[float]
) -> tuple[Sequence[float], Sequence[float], Sequence[float]]:
    """Use the double-precision geometry a dcemets sidecar recorded if it matches the file's."""
    geo = own_field(meta, "geometry", None)
    if not isinstance(geo, dict):
        return origin, spacing, direction
    try:
        o, s, d = (np.asarray(geo[k], dtype=float) for k in ("origin", "spacing", "direction"))
    except (KeyError, TypeError, ValueError):
        return origin, spacing, direction
    if (
        o.shape == (3,)
        and s.shape == (3,)
        and d.shape == (9,)
        and np.allclose(o, origin, atol=GEOMETRY_MATCH_MM, rtol=0)
        and np.allclose(s, spacing, atol=GEOMETRY_MATCH_MM, rtol=0)
        and np.allclose(d, direction, atol=1e-5, rtol=0)
    ):
        return o.tolist(), s.tolist(), d.tolist()
    return origin, spacing, direction


def sidecar_content(da: xr.DataArray, default_name: str | None) -> dict[str, Any]:
    """BIDS acquisition fields plus a ``"dcemets"`` block (attrs, name, dtype, geometry)."""
    out: dict[str, Any] = {}
    for key, attr, _ in ACQ_KEYS:
        value = da.attrs.get(attr)
        if key != "RepetitionTime" and value is not None and netcdf_safe(value):
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue  # kept verbatim in the "dcemets" attrs block
            if np.isfinite(number):  # BIDS fields are finite numbers (attrs block keeps the rest)
                out[key] = number
    geo = geometry(da)
    attrs = {
        k: jsonable(v)
        for k, v in da.attrs.items()
        if (k not in _GEOMETRY_KEYS or k == "frame_of_reference") and netcdf_safe(v)
    }
    out["dcemets"] = {
        "version": _version(),
        "name": da.name if isinstance(da.name, str) else default_name,
        "dtype": str(da.dtype),
        "attrs": attrs,
        "geometry": {
            "origin": list(geo.origin),
            "spacing": list(geo.spacing),
            "direction": list(geo.direction),
        },
    }
    return out


def write_sidecar(image_path: Path, content: dict[str, Any]) -> Path:
    """Write `content` as the JSON sidecar of `image_path`; return its path."""
    side = sidecar_of(image_path)
    side.write_text(json.dumps(content, indent=2), encoding="utf-8")
    return side
