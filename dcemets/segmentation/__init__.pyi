from .enhancement import enhancement_image
from .grow import find_seed, region_grow
from .metrics import dice, hausdorff95
from .ncut import normalized_cut, select_partitions
from .pipeline import segment_cohort, segment_lesion
from .transfer import transfer_roi, widen_search_region

__all__ = [
    "dice",
    "enhancement_image",
    "find_seed",
    "hausdorff95",
    "normalized_cut",
    "region_grow",
    "segment_cohort",
    "segment_lesion",
    "select_partitions",
    "transfer_roi",
    "widen_search_region",
]
