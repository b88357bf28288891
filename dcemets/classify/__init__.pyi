from ._chaid_export import export_text, plot_tree
from .chaid import (
    CHAIDClassifier,
    CHAIDNode,
    bin_edges,
    bonferroni_multiplier,
    merge_categories,
    pearson_chi2,
)
from .hotspot import HEURISTIC_FEATURES, hotspot_chaid, hotspot_logistic
from .selection import ForestRanker

__all__ = [
    "HEURISTIC_FEATURES",
    "CHAIDClassifier",
    "CHAIDNode",
    "ForestRanker",
    "bin_edges",
    "bonferroni_multiplier",
    "export_text",
    "hotspot_chaid",
    "hotspot_logistic",
    "merge_categories",
    "pearson_chi2",
    "plot_tree",
]
