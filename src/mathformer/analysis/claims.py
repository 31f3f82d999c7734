"""This run's numbers beside the paper's: every claim of config/claims.yaml with a verdict.

A claim names the paper's value, where this run's value lives (a table written by the analyses,
a column, the row(s) selected by `where`, and how several cells reduce to one number), and the
rule that turns the two into a verdict: reproduced, partly, not, or missing when this run has no
such number (an experiment left out at this scale, say). A claim may also say from which matrix
size it can be tested (`testable`: a quantity that cannot vary at smaller n, such as the
condition number of a 2x2 model's eigenvectors); below it the verdict is "not testable", with
the reason.

One-sided claims ("failures have larger condition numbers") use at_least / at_most rules, so a
run that does better than the paper on them is not judged against the paper's exact figure.

Run names differ between scales (eigvec5 at paper scale, eigvec3 at quick scale), so claims
refer to runs by role (E1, E2_weak, ...) and the file maps roles to run names per scale.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from mathformer.analysis.catalogue import FOLDERS, TRAINING
from mathformer.core.problems import unknown_choice

RULE_KINDS = ("within", "within_relative", "at_least", "at_most")
REDUCTIONS = ("min", "max", "mean", "median", "ratio_max_min")
VERDICTS = ("reproduced", "partly", "not", "not testable", "missing")
CLAIM_KEYS = ("id", "experiment", "description", "paper", "unit", "measured", "rule", "testable")
TESTABLE_KEYS = ("min_n", "why")
MEASURED_KEYS = ("table", "column", "where", "reduce")


@dataclass(frozen=True)
class Claim:
    id: str
    experiment: str
    description: str
    paper: float | str
    unit: str
    table: str
    columns: tuple[str, ...]
    where: dict[str, Any] = field(default_factory=dict)
    reduce: str | None = None
    rule: dict[str, Any] = field(default_factory=dict)
    min_n: int | None = None  # smallest matrix size at which the claim's quantity can vary
    untestable_why: str = ""


def _parse_rule(claim_id: str, rule: Mapping[str, Any]) -> dict[str, Any]:
    kind = rule.get("kind")
    if kind not in RULE_KINDS:
        raise ValueError(f"claim {claim_id!r}: {unknown_choice('rule kind', kind, RULE_KINDS)}")
    for bound in ("reproduced", "partly"):
        if not isinstance(rule.get(bound), (int, float)):
            raise ValueError(f"claim {claim_id!r}: rule needs a number '{bound}', got {rule.get(bound)!r}")
    looser = (
        rule["partly"] >= rule["reproduced"]
        if kind in ("within", "within_relative", "at_most")
        else rule["partly"] <= rule["reproduced"]
    )
    if not looser:
        raise ValueError(f"claim {claim_id!r}: the 'partly' bound must be looser than the 'reproduced' bound")
    return dict(rule)


def parse_claim(entry: Mapping[str, Any]) -> Claim:
    """One entry of the claims file; ValueError naming the claim on a missing or unknown key."""
    claim_id = entry.get("id", "?")
    unknown = sorted(set(entry) - set(CLAIM_KEYS))
    if unknown:
        raise ValueError(f"claim {claim_id!r}: {unknown_choice('key', unknown[0], CLAIM_KEYS)}")
    missing = [key for key in CLAIM_KEYS if key not in entry and key not in ("unit", "testable")]
    if missing:
        raise ValueError(f"claim {claim_id!r} lacks {', '.join(missing)}")
    measured = entry["measured"]
    unknown = sorted(set(measured) - set(MEASURED_KEYS))
    if unknown:
        raise ValueError(f"claim {claim_id!r}: {unknown_choice('measured key', unknown[0], MEASURED_KEYS)}")
    reduce = measured.get("reduce")
    if reduce is not None and reduce not in REDUCTIONS:
        raise ValueError(f"claim {claim_id!r}: {unknown_choice('reduction', reduce, REDUCTIONS)}")
    columns = measured.get("column")
    columns = (columns,) if isinstance(columns, str) else tuple(columns or ())
    if not columns or "table" not in measured:
        raise ValueError(f"claim {claim_id!r}: 'measured' needs a table and a column")
    rule = _parse_rule(str(claim_id), entry["rule"])
    testable = entry.get("testable") or {}
    if sorted(testable) not in ([], sorted(TESTABLE_KEYS)) or not isinstance(testable.get("min_n", 0), int):
        raise ValueError(f"claim {claim_id!r}: 'testable' needs min_n (an integer) and why, got {testable!r}")
    if rule["kind"] in ("within", "within_relative") and not isinstance(entry["paper"], (int, float)):
        raise ValueError(
            f"claim {claim_id!r}: a '{rule['kind']}' rule needs a numeric paper value, got {entry['paper']!r}"
        )
    return Claim(
        id=str(claim_id),
        experiment=str(entry["experiment"]),
        description=str(entry["description"]),
        paper=entry["paper"],
        unit=str(entry.get("unit", "")),
        table=str(measured["table"]),
        columns=columns,
        where=dict(measured.get("where") or {}),
        reduce=reduce,
        rule=rule,
        min_n=testable.get("min_n"),
        untestable_why=str(testable.get("why", "")),
    )


def load_claims(path: str | os.PathLike) -> tuple[dict[str, dict[str, str]], list[Claim]]:
    """The claims file: (roles -> run names per scale, claims). Duplicate ids are an error."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"cannot read claims file {str(path)!r}: {err}") from err
    if not isinstance(document, dict) or not isinstance(document.get("claims"), list):
        raise ValueError(f"claims file {str(path)!r} needs a 'claims' list")
    claims = [parse_claim(entry) for entry in document["claims"]]
    ids = [claim.id for claim in claims]
    duplicated = sorted({claim_id for claim_id in ids if ids.count(claim_id) > 1})
    if duplicated:
        raise ValueError(f"claims file {str(path)!r} repeats claim id(s) {', '.join(duplicated)}")
    return dict(document.get("runs") or {}), claims


# ---------------------------------------------------------------- measuring


def _matches(column: pd.Series, wanted: object) -> pd.Series:
    if (
        isinstance(wanted, (int, float))
        and not isinstance(wanted, bool)
        and pd.api.types.is_numeric_dtype(column)
    ):
        return pd.Series(np.isclose(column.to_numpy(dtype=np.float64), float(wanted)), index=column.index)
    return column.astype(str) == str(wanted)


def _selected_rows(claim: Claim, table: pd.DataFrame, runs: Mapping[str, str]) -> pd.Series:
    """The rows a claim's `where` picks (none when it names a column the table lacks)."""
    rows = pd.Series(True, index=table.index)
    for key, wanted in claim.where.items():
        if key not in table:
            return pd.Series(False, index=table.index)
        if key == "run":
            wanted = runs.get(str(wanted), wanted)
        rows &= _matches(table[key], wanted)
    return rows


def select_cells(claim: Claim, table: pd.DataFrame, runs: Mapping[str, str]) -> np.ndarray:
    """The cells of `table` a claim points at, as floats; the `run` filter goes through the role map."""
    columns = [column for column in claim.columns if column in table]
    if len(columns) < len(claim.columns):
        return np.array([])
    return table.loc[_selected_rows(claim, table, runs), columns].to_numpy(dtype=np.float64).ravel()


def too_small(claim: Claim, table: pd.DataFrame, runs: Mapping[str, str]) -> bool:
    """Whether the claim's rows come from matrices smaller than it can be tested at."""
    if claim.min_n is None or "n" not in table:
        return False
    sizes = table.loc[_selected_rows(claim, table, runs), "n"]
    return bool(len(sizes)) and bool((sizes < claim.min_n).all())


def reduce_cells(cells: np.ndarray, reduction: str | None, claim_id: str) -> float:
    """One number from the selected cells; NaN cells are ignored, none left gives NaN."""
    cells = cells[~np.isnan(cells)]
    if cells.size == 0:
        return math.nan
    if reduction is None:
        if cells.size > 1:
            raise ValueError(
                f"claim {claim_id!r} selects {cells.size} cells; narrow 'where' or add a 'reduce'"
            )
        return float(cells[0])
    if reduction == "ratio_max_min":
        return float(cells.max() / cells.min()) if cells.min() > 0 else math.nan
    return float(getattr(np, reduction)(cells))


def measure(claim: Claim, tables_dir: str | os.PathLike, runs: Mapping[str, str]) -> tuple[float, bool]:
    """This run's value for a claim (NaN when its table, rows or columns are not there), and
    whether the run's matrices are too small for the claim to be tested."""
    path = Path(tables_dir) / f"{claim.table}.csv"
    if not path.is_file():
        return math.nan, False
    table = pd.read_csv(path)
    return reduce_cells(select_cells(claim, table, runs), claim.reduce, claim.id), too_small(
        claim, table, runs
    )


# ---------------------------------------------------------------- judging


def _distance(rule: Mapping[str, Any], measured: float, paper: float) -> float:
    gap = abs(measured - paper)
    return gap / abs(paper) if rule["kind"] == "within_relative" else gap


def judge(rule: Mapping[str, Any], measured: float, paper: float | str) -> str:
    """reproduced / partly / not by the rule; missing when there is no measured value."""
    if measured is None or math.isnan(measured):
        return "missing"
    kind = rule["kind"]
    if kind in ("within", "within_relative"):
        distance = _distance(rule, measured, float(paper))
        passes = {bound: distance <= rule[bound] for bound in ("reproduced", "partly")}
    elif kind == "at_least":
        passes = {bound: measured >= rule[bound] for bound in ("reproduced", "partly")}
    else:
        passes = {bound: measured <= rule[bound] for bound in ("reproduced", "partly")}
    if passes["reproduced"]:
        return "reproduced"
    return "partly" if passes["partly"] else "not"


def describe_rule(rule: Mapping[str, Any], unit: str = "") -> str:
    """The rule in words, to print beside the verdict."""
    kind = rule["kind"]
    points = " points" if unit == "%" else (f" {unit}" if unit else "")
    if kind == "within":
        return f"reproduced if |run - paper| <= {rule['reproduced']:g}{points}; partly if <= {rule['partly']:g}{points}"
    if kind == "within_relative":
        return f"reproduced if |run - paper| <= {100 * rule['reproduced']:g} % of paper; partly if <= {100 * rule['partly']:g} %"
    sign = ">=" if kind == "at_least" else "<="
    suffix = f" {unit}" if unit else ""
    return f"reproduced if run {sign} {rule['reproduced']:g}{suffix}; partly if run {sign} {rule['partly']:g}{suffix}"


def claims_table(claims_path: str | os.PathLike, results_dir: str | os.PathLike, scale: str) -> pd.DataFrame:
    """Every claim with the paper's value, this run's value, the verdict and the rule in words."""
    roles, claims = load_claims(claims_path)
    runs = roles.get(scale, {})
    tables_dir = Path(results_dir) / FOLDERS["table"]
    rows = []
    for claim in claims:
        measured, untestable = measure(claim, tables_dir, runs)
        rule = describe_rule(claim.rule, claim.unit)
        rows.append(
            {
                "id": claim.id,
                "experiment": claim.experiment,
                "description": claim.description,
                "unit": claim.unit,
                "paper": claim.paper,
                "this_run": measured,
                "verdict": "not testable" if untestable else judge(claim.rule, measured, claim.paper),
                "rule": f"not testable below n = {claim.min_n}: {claim.untestable_why}"
                if untestable
                else rule,
            }
        )
    return pd.DataFrame(rows)


PAPER_MODEL_KEYS = ("task", "n", "layers", "width")


def load_paper_models(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The claims file's `paper_models`: role -> the paper's task, n, layers and width for it."""
    document = yaml.safe_load(Path(path).read_text()) or {}
    models = document.get("paper_models") or {}
    for role, model in models.items():
        if not isinstance(model, dict) or sorted(model) != sorted(PAPER_MODEL_KEYS):
            raise ValueError(
                f"claims file {str(path)!r}: paper_models.{role} needs exactly {', '.join(PAPER_MODEL_KEYS)}"
            )
    return models


def _size(n: object, layers: object, width: object) -> str:
    return f"{n}x{n}, {layers} layers x {width}"


def size_departures(claims_path: str | os.PathLike, results_dir: str | os.PathLike, scale: str) -> list[str]:
    """How this run's models are smaller than the paper's, one line per role that differs
    (its runs, their size, the paper's), read from tables/training.csv against the claims
    file's `paper_models`. Empty when every model behind a claim has the paper's matrix size
    and model: the verdicts then judge number for number. Roles with no trained run add nothing
    (their claims read "missing")."""
    roles, _ = load_claims(claims_path)
    runs = roles.get(scale, {})
    path = Path(results_dir) / FOLDERS["table"] / f"{TRAINING.name}.csv"
    if not path.is_file():
        return []
    table = pd.read_csv(path)
    # A role named in `runs` at some scale is one run; any other (E4) is every model of its task.
    run_roles = {role for scale_roles in roles.values() for role in scale_roles}
    lines = []
    for role, paper in load_paper_models(claims_path).items():
        if role in run_roles:
            rows = table[table["run"] == runs.get(role)]
        else:
            rows = table[table["task"] == paper["task"]]
        differing = rows[
            (rows["task"] != paper["task"])
            | (rows["n"] != paper["n"])
            | (rows["layers"].astype(str) != str(paper["layers"]))
            | (rows["width"] != paper["width"])
        ]
        for (n, layers, width), group in differing.groupby(["n", "layers", "width"], sort=False):
            lines.append(
                f"{role} ({', '.join(group['run'])}): {_size(n, layers, width)}; "
                f"the paper's {_size(paper['n'], paper['layers'], paper['width'])}"
            )
    return lines


def verdict_counts(table: pd.DataFrame) -> pd.DataFrame:
    """How many claims got each verdict, in a fixed order."""
    counts = table["verdict"].value_counts().reindex(VERDICTS, fill_value=0)
    return counts.rename_axis("verdict").reset_index(name="claims")


# ---------------------------------------------------------------- the paper's values on figures


@dataclass(frozen=True)
class PaperValue:
    """A numeric paper value where a figure can show it: the run (a run name, through the role
    map), the table and statistic the claim measures (an interval's end, `p98_high`, names the
    statistic `p98`), the other `where` filters, and the value."""

    claim: str
    run: str
    table: str
    statistic: str
    where: dict[str, Any]
    value: float


def _statistic(column: str) -> str:
    """The statistic a claim's column measures: a claim judged on an interval's end is about the estimate."""
    for suffix in ("_low", "_high"):
        if column.endswith(suffix):
            return column[: -len(suffix)]
    return column


def paper_values(claims_path: str | os.PathLike, scale: str) -> list[PaperValue]:
    """The claims with a numeric paper value about one column of one run's rows, the run named
    as at `scale`: what figures mark beside this run's curves. Claims of a role with no run at
    this scale are left out."""
    roles, claims = load_claims(claims_path)
    runs = roles.get(scale, {})
    values = []
    for claim in claims:
        role = claim.where.get("run")
        numeric = isinstance(claim.paper, (int, float)) and not isinstance(claim.paper, bool)
        if not numeric or role is None or role not in runs or len(claim.columns) != 1:
            continue
        where = {key: value for key, value in claim.where.items() if key != "run"}
        statistic = _statistic(claim.columns[0])
        values.append(PaperValue(claim.id, runs[role], claim.table, statistic, where, float(claim.paper)))
    return values
