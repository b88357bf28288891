from .crossval import CVResult, cross_validate, resubstitution_metrics
from .metrics import (
    DeLongResult,
    auc_confidence_interval,
    delong_test,
    diagnostic_metrics,
    roc_auc,
    wilson_interval,
)
from .plotting import plot_roc
from .search import SearchResult, radiomics_search
from .tables import compare_groups

__all__ = [
    "CVResult",
    "DeLongResult",
    "SearchResult",
    "auc_confidence_interval",
    "compare_groups",
    "cross_validate",
    "delong_test",
    "diagnostic_metrics",
    "plot_roc",
    "radiomics_search",
    "resubstitution_metrics",
    "roc_auc",
    "wilson_interval",
]
