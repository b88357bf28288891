"""Re-exports of the geometry helpers of :mod:`dcemets._conventions` under ``dcemets.io``."""

from __future__ import annotations

from dcemets._conventions import index_from_world, world_coordinates

__all__ = ["index_from_world", "world_coordinates"]
