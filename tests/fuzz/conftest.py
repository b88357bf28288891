"""Fuzz-suite session setup: the hypothesis profile and the outcome summary."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

from .harness import COUNTS, DEFECT_CLASSES

settings.register_profile(
    "fuzz",
    deadline=None,
    derandomize=True,  # reproducible in CI: same examples on every run
    database=None,
    print_blob=True,
    phases=(Phase.explicit, Phase.generate),  # no shrinking: inputs are small already
    suppress_health_check=list(HealthCheck),
)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not COUNTS["calls"]:
        return
    defects = sum(COUNTS[k] for k in DEFECT_CLASSES)
    line = (
        f"fuzz: {COUNTS['calls']} calls, {COUNTS['clear_error']} clear errors, "
        f"{COUNTS['documented_result']} documented results, {defects} defects"
    )
    if defects:
        line += " (" + ", ".join(f"{k} {COUNTS[k]}" for k in DEFECT_CLASSES if COUNTS[k])
        line += f"; {COUNTS['known']} of them known defects, strict xfail)"
    terminalreporter.write_sep("-", "fuzz summary")
    terminalreporter.write_line(line)
