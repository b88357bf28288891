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
from .tables import compare_groups

__all__ = [
    "CVResult",
    "DeLongResult",
    "auc_confidence_interval",
    "compare_groups",
    "cross_validate",
    "delong_test",
    "diagnostic_metrics",
    "plot_roc",
    "resubstitution_metrics",
    "roc_auc",
    "wilson_interval",
]
