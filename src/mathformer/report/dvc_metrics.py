"""report/metrics.json, what `dvc metrics show` prints: the verdict counts and each result's number.

Few and flat on purpose: DVC prints one column per number, so the file holds what a reader
compares between commits (how many claims each verdict got, and the number that carries each
of the paper's three results, as the summary's opening lines print it), not every claim: those
are in report/claims.csv.
"""

from __future__ import annotations

import json
import math
import os

import pandas as pd

from mathformer.analysis.claims import VERDICTS
from mathformer.formats.atomic import atomic_path
from mathformer.report.headlines import HEADLINES, carrying_claims


def metrics(verdicts: pd.DataFrame) -> dict[str, float | int | None]:
    """Claims per verdict (by the verdict's word), then result1..result3 as the report prints
    them (percentages to 0.1, other numbers to 0.001; null when unmeasured: JSON has no NaN)."""
    counts = verdicts["verdict"].value_counts()
    document: dict[str, float | int | None] = {name: int(counts.get(name, 0)) for name in VERDICTS}
    for result, _, claim_ids in HEADLINES:
        claim = carrying_claims(verdicts, result, claim_ids)[-1]
        number = float(claim.this_run)
        document[f"result{result}"] = (
            None if math.isnan(number) else round(number, 1 if claim.unit == "%" else 3)
        )
    return document


def write_metrics(verdicts: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write `metrics(verdicts)` as JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(metrics(verdicts), indent=2) + "\n")
