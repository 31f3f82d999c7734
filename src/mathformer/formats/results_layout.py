"""Where the workflow keeps each file under results/<scale>/: the path patterns, named once.

Each pattern holds `{placeholders}`: the rules use it as a Snakemake pattern (the placeholders are
wildcards), the planning (mathformer.planning) fills it in with `str.format`. The names inside a
run's folder are `run_folder`'s; the tables and figures, mathformer.analysis.catalogue's.
"""

from __future__ import annotations

RESULTS = "results/{scale}"
# One fixed set per problem (task, n, coefficient law and range), spectrum and role.
DATASET = RESULTS + "/data/{task}/n{n}_{law}_A{coeff_range}/{spectrum}_{role}.npz"
RUN_DIR = RESULTS + "/models/{run}"
# {weights}: the stem of run_folder.MODEL or run_folder.WEAK ("model" or "weak").
WEIGHTS = RUN_DIR + "/{weights}.pt"
# A predictions table and, beside it, its summary: one model's answers on one fixed set.
EVALUATION = RESULTS + "/eval/{run}/{weights}/{spectrum}_{role}"
PREDICTIONS = EVALUATION + ".parquet"
SUMMARY = EVALUATION + ".json"
# The training logs that git keeps (DVC keeps models/), one per run.
TRAIN_LOGS = "train_logs"
TRAIN_LOG_COPY = RESULTS + "/" + TRAIN_LOGS + "/{run}.csv"
# The report folder: the executed notebooks, the page, the claims table and the metrics for DVC.
REPORT_DIR = RESULTS + "/report"
REPORT_PAGE = "report.html"
CLAIMS_TABLE = "claims"  # claims.csv, .md and .tex
METRICS = "metrics.json"
REPORT = REPORT_DIR + "/" + REPORT_PAGE


def coeff_range_text(coeff_range: float) -> str:
    """A coefficient range as its path spells it: 15 significant digits, short for the usual
    values (10.0 -> "10"), and read back by the CLI as the very float the run trains on."""
    return f"{coeff_range:.15g}"
