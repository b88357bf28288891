from .acquisition import acquisition_parameters
from .cache import CacheWarning, FoldStore, StudyCache
from .cli import main
from .config import PRESETS, StudyConfig
from .figures import make_figures
from .paper import PAPER_TABLE1, PAPER_TABLE2, PAPER_TABLE3
from .per_case import CaseError, CaseFailedWarning, process_case, quality_flags, run_cases
from .pipeline import run_study
from .report import acquisition_table, format_tables, write_report
from .results import QUALITY_COLUMNS, QUALITY_FLAGS, QUALITY_THRESHOLDS, CaseResult, CaseRuns, StudyResult

__all__ = [
    "PAPER_TABLE1",
    "PAPER_TABLE2",
    "PAPER_TABLE3",
    "PRESETS",
    "QUALITY_COLUMNS",
    "QUALITY_FLAGS",
    "QUALITY_THRESHOLDS",
    "CacheWarning",
    "CaseError",
    "CaseFailedWarning",
    "CaseResult",
    "CaseRuns",
    "FoldStore",
    "StudyCache",
    "StudyConfig",
    "StudyResult",
    "acquisition_parameters",
    "acquisition_table",
    "format_tables",
    "main",
    "make_figures",
    "process_case",
    "quality_flags",
    "run_cases",
    "run_study",
    "write_report",
]
