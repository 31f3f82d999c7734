"""Result 1 of the paper: on its failures, the eigenvector model still gets eigenvalues and norms right.

`roughly_right_table` turns one eigenvector predictions table into shares of right parts
against tolerance; `roughly_right` is the entry point behind `mathformer analyse roughly-right`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mathformer.analysis import catalogue
from mathformer.analysis.claims import PaperValue
from mathformer.analysis.failures import (
    failed_at,
    figure_caption,
    paper_values_about,
    read_runs,
    runs_caption,
    titles,
    with_size,
)
from mathformer.analysis.output_set import output_set
from mathformer.core.intervals import wilson
from mathformer.core.metrics import HEADLINE_TOLERANCE
from mathformer.figures.roughly_right import MARK_COLUMNS, roughly_right_figure
from mathformer.figures.style import style

# Result 1 reads accuracy as a curve: the paper's six tolerances and the gaps between them.
ROUGHLY_RIGHT_TOLERANCES = (0.005, 0.01, 0.02, 0.05, 0.075, 0.10, 0.15, 0.20, 0.25)
# Result 1's parts of an eigen-decomposition -> the predictions-table column that measures each.
# The first three are the paper notebook's definitions (mathformer.core.metrics, *_paper); the last is
# ours, stricter, reported beside them.
ROUGHLY_RIGHT_PARTS = {
    "eigenvalues": "eigenvalue_error_paper",
    "norms": "norm_error_paper",
    "orthogonal": "orthogonality_paper",
    "orthogonal_all_pairs": "orthogonality",
}
REQUIRED_COLUMNS = ("error", "decoded", *ROUGHLY_RIGHT_PARTS.values())


def _percent(part: np.ndarray, whole: np.ndarray | int) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return 100.0 * np.asarray(part, dtype=np.float64) / whole


def _add_share(table: dict[str, object], column: str, part: np.ndarray, whole: np.ndarray | int) -> None:
    """The share in percent, and its 95 % Wilson interval as `<column>_low` and `<column>_high`."""
    low, high = wilson(part, whole)
    table[column] = _percent(part, whole)
    table[f"{column}_low"], table[f"{column}_high"] = 100 * low, 100 * high


def roughly_right_table(
    frame: pd.DataFrame, run: str, tolerances: Sequence[float] = ROUGHLY_RIGHT_TOLERANCES
) -> pd.DataFrame:
    """For an eigenvector predictions table: at each tolerance t, accuracy and which parts are right.

    A part is right within t when its property is below t, with the definitions of the paper's
    notebook (`ROUGHLY_RIGHT_PARTS`): eigenvalues compared in order, norms over all rows and
    columns, orthogonality over consecutive rows; `orthogonal_all_pairs` (every pair of
    eigenvectors, stricter from n = 4) stands beside them. `all_*` shares are over all
    predictions, undecoded ones counting as wrong on every part, as in the paper. `failed_*`
    shares are over the DECODED failures at t: an undecoded answer has no parts to be right or
    wrong, and mixing them in would hide what the decoded failures do; `undecoded_failures`
    counts them. Shares are in percent.
    """
    tol = np.asarray(tolerances, dtype=np.float64)[None, :]
    failed = failed_at(frame["error"].to_numpy()[:, None], tol)
    decoded = frame["decoded"].to_numpy(dtype=bool)[:, None]
    right = {
        part: frame[column].to_numpy(dtype=np.float64)[:, None] < tol
        for part, column in ROUGHLY_RIGHT_PARTS.items()
    }
    right["eigenvalues_norms"] = right["eigenvalues"] & right["norms"]
    right["eigenvalues_norms_orthogonal"] = right["eigenvalues_norms"] & right["orthogonal"]
    count = len(frame)
    failures = failed.sum(axis=0)
    decoded_failures = (failed & decoded).sum(axis=0)
    table = {
        "run": run,
        "tolerance_pct": 100 * tol[0],
        "count": count,
        "failures": failures,
        "undecoded_failures": failures - decoded_failures,
    }
    _add_share(table, "accuracy_pct", count - failures, count)
    for part, mask in right.items():
        _add_share(table, f"all_{part}_pct", mask.sum(axis=0), count)
    for part, mask in right.items():
        _add_share(table, f"failed_{part}_pct", (mask & failed & decoded).sum(axis=0), decoded_failures)
    return pd.DataFrame(table)


def roughly_right_marks(values: Sequence[PaperValue]) -> pd.DataFrame:
    """The paper's points on the roughly-right curves: run, column, tolerance_pct, value."""
    rows = [
        {
            "run": value.run,
            "column": value.statistic,
            "tolerance_pct": float(value.where["tolerance_pct"]),
            "value": value.value,
        }
        for value in values
        if set(value.where) == {"tolerance_pct"}
    ]
    return pd.DataFrame(rows, columns=MARK_COLUMNS)


def roughly_right(
    runs: Mapping[str, str | os.PathLike],
    out_dir: str | os.PathLike,
    claims: str | os.PathLike | None = None,
    scale: str | None = None,
) -> pd.DataFrame:
    """`mathformer analyse roughly-right`: eigenvector runs (name -> predictions table) to
    out_dir/tables/roughly_right.{csv,md,tex} and out_dir/figures/roughly_right.{pdf,png}.
    With a claims file, the figure marks the paper's values beside the runs they are about.
    """
    read = read_runs(runs, "roughly_right", lambda task: (REQUIRED_COLUMNS, ()))
    table = pd.concat(
        [with_size(roughly_right_table(run.frame, run.name), run) for run in read], ignore_index=True
    )
    caption = runs_caption(
        "Roughly right: accuracy, and the share of predictions whose eigenvalues, eigenvector norms and orthogonality are right, against tolerance",
        read,
    )
    marks = roughly_right_marks(
        paper_values_about(claims, out_dir, scale, catalogue.ROUGHLY_RIGHT_TABLE.name)
    )
    with style(), output_set(out_dir, "roughly_right") as outputs:
        figure = roughly_right_figure(table, titles(read), marks, 100 * HEADLINE_TOLERANCE)
        outputs.table(catalogue.ROUGHLY_RIGHT_TABLE, table, caption)
        outputs.figure(catalogue.ROUGHLY_RIGHT_FIGURE, figure, figure_caption(caption, read))
    return table
