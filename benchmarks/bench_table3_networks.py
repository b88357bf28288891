"""Table 3's network rows of ``dcemets replicate`` without the radiomics stage (issue 19).

Run ``python benchmarks/bench_table3_networks.py [--preset cpu] [--out dcemets-out/cache]``.
Simulates the default cohort (``simulate_cohort(rng=0)``), runs the per-case stage (read back
from ``--out`` when the cache holds it, e.g. after ``dcemets replicate``), the hot-spot CHAID and
logistic regression, then the deep-learning stage exactly as ``run_study`` does: the CNN, the
CLSTM and the GRU on the mean curve, cross-validated on the CHAID's folds.  Prints their Table 3
rows beside the CHAID's (the baseline a user would otherwise use) and the wall time of the
networks; writes the learning curves as ``learning_curves_<net>.csv`` next to the cache.
About 20 min of the ``cpu`` preset's networks on an idle 2-core CPU, plus the per-case stage
(~10 min) when it is not cached.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--out", default="dcemets-out/cache")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    from dcemets.simulate import simulate_cohort
    from dcemets.study import StudyConfig, StudyResult, run_cases
    from dcemets.study.analyses import _dl_analyses, _hotspot_analyses, _table3
    from dcemets.study.cache import StudyCache

    config = StudyConfig.preset(args.preset, n_jobs=args.jobs)
    cohort = simulate_cohort(rng=0, n_jobs=args.jobs, progress=False)
    runs = run_cases(cohort, config=config, out=args.out, progress=False)
    table = pd.DataFrame([r.row() for r in runs.results]).set_index("subject_id")
    result = StudyResult(
        config=config, cases=runs.results, failures=runs.failures, table=table, features=table
    )
    cache = StudyCache(args.out)
    _hotspot_analyses(table, config, result, cache)
    t0 = time.perf_counter()
    _dl_analyses(cohort, runs.results, config, result, progress=True, cache=cache)
    minutes = (time.perf_counter() - t0) / 60
    t3 = _table3(result)
    rows = t3[t3["evaluation"].str.contains("CV")]
    print(rows[["evaluation", "accuracy", "sd", "min", "max", "auc", "paper_accuracy"]].round(3).to_string())
    chaid = rows.loc["Hot-spot CHAID (3 heuristics)", "accuracy"]
    for name in (
        "CNN on 3 parametric maps",
        "CLSTM on 12 DCE frames",
        "GRU on the lesion's mean curve (baseline)",
    ):
        print(f"{name}: {rows.loc[name, 'accuracy'] / chaid:.2f} x the CHAID's accuracy on the same folds")
    print(f"networks: {minutes:.1f} min ({args.preset} preset)")
    for name, curves in result.learning_curves.items():
        curves.to_csv(Path(args.out).parent / f"learning_curves_{name}.csv", index=False)


if __name__ == "__main__":
    main()
