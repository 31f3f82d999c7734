"""The paper's three results in one line each: which claim carries each, its verdict, its number.

The summary opens with these lines, and `dvc metrics show` prints the same numbers: a result is
carried by the first of its claims that this run could measure, and the line says which claims
it passed over and why.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd

from mathformer.formats.tables import MISSING, format_fixed
from mathformer.report.html_tables import verdict_mark

# The paper's three results, and the claims whose number carries each, best first: a claim that
# this run cannot test (or did not measure) hands over to the next, and the line says why.
HEADLINES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("1", "wrong predictions are roughly right",
     ("E1-failed-eigenvalues-norms-5", "E2-weak-failed-eigenvalues-norms-5")),
    ("2", "failures are predictable",
     ("E1-predictable-5", "E3-predictable-5")),
    ("3", "the training distribution decides generalization",
     ("E4-laplace-generalizes", "E4-semicircle-does-not-generalize")),
)  # fmt: skip
VERDICT_WORDS = {
    "reproduced": "reproduced",
    "partly": "partly reproduced",
    "not": "not reproduced",
    "not testable": "not testable here",
    "missing": "not measured at this scale",
}
UNMEASURED = ("not testable", "missing")


def claim_value(value: object, unit: str) -> str:
    """A claim's number as the report prints it: percentages to 1 decimal, ratios with 'x', others to 3."""
    if isinstance(value, str):
        return value
    text = format_fixed(value, 1 if unit in ("%", "x") else 3)
    if text == MISSING:
        return text
    # A no-break space keeps a number and its unit on one line in a narrow column.
    if unit == "%":
        return f"{text}\u00a0%"
    return f"{text}x" if unit == "x" else text + (f" {unit}" if unit else "")


def paper_value(value: object, unit: str) -> str:
    """The paper's figure as the paper gave it (1.031, 92), not padded to this run's decimals."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}" + ("\u00a0%" if unit == "%" else unit)
    return str(value)


def carrying_claims(verdicts: pd.DataFrame, result: str, claim_ids: tuple[str, ...]) -> list[pd.Series]:
    """The claims of one result, up to and including the one that carries it: the first measured,
    else the first. Each Series is named by its claim id."""
    rows = verdicts.set_index("id")
    known = [claim for claim in claim_ids if claim in rows.index]
    if not known:
        raise ValueError(f"result {result}: none of the claims {', '.join(claim_ids)} is in the claims table")
    claims = [rows.loc[claim] for claim in known]
    chosen_at = next((at for at, claim in enumerate(claims) if claim.verdict not in UNMEASURED), 0)
    return claims[: chosen_at + 1]


def _why(row: pd.Series, scale: str, skipped: list[pd.Series], smaller: Sequence[str]) -> str:
    """What stands behind a line besides its number: the claims it could not use, and whether the
    models are smaller than the paper's (`smaller`: mathformer.analysis.claims.size_departures)."""
    notes = []
    for claim in skipped:
        reason = claim.rule if claim.verdict == "not testable" else "no number at this scale"
        notes.append(f"Shown instead of {claim.name}: {reason}.")
    if row.verdict != "reproduced" and smaller:
        notes.append(
            f"Why it may differ: at {scale} scale the matrices and models are smaller than the paper's, so the "
            "number checks the pipeline rather than replicates the paper (docs/cpu-recipes.md, docs/departures.md)."
        )
    return " ".join(notes)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def headline(
    verdicts: pd.DataFrame,
    scale: str,
    result: str,
    title: str,
    claim_ids: tuple[str, ...],
    *,
    smaller: Sequence[str],
) -> str:
    """One result's line (HTML): the verdict, its number beside the paper's, and why they differ."""
    *skipped, chosen = carrying_claims(verdicts, result, claim_ids)
    why = _why(chosen, scale, skipped, smaller)
    return (
        f'<p class="headline">{verdict_mark(chosen.verdict)} <strong>Result {html.escape(result)}, '
        f"{html.escape(title)}: {html.escape(VERDICT_WORDS[chosen.verdict])}.</strong> "
        f"This run: <strong>{html.escape(claim_value(chosen.this_run, chosen.unit))}</strong>; "
        f"the paper: {html.escape(paper_value(chosen.paper, chosen.unit))}. "
        f'<span class="claim">{html.escape(_sentence(chosen.description))} [{html.escape(str(chosen.name))}]</span>'
        + (f" {html.escape(why)}" if why else "")
        + "</p>"
    )


def headlines_html(verdicts: pd.DataFrame, scale: str, smaller: Sequence[str]) -> str:
    """The summary's opening: one line per result of the paper."""
    lines = "".join(headline(verdicts, scale, *entry, smaller=smaller) for entry in HEADLINES)
    return f'<section class="headlines" id="headlines">{lines}</section>'


def scale_note(scale: str, smaller: Sequence[str]) -> str:
    """What the verdicts of this scale are (HTML): a replication when its models have the paper's
    sizes, a check of the pipeline when some are smaller, which ones."""
    if not smaller:
        return (
            f"<p>At {html.escape(scale)} scale the models behind the claims have the paper's matrix sizes and "
            "models: each verdict compares this run's number with the paper's, number for number. How the "
            "training differs from the paper's, and why, is in <code>docs/departures.md</code>.</p>"
        )
    items = "".join(f"<li>{html.escape(line)}</li>" for line in smaller)
    return (
        f"<p>At {html.escape(scale)} scale some models are smaller than the paper's:</p><ul>{items}</ul>"
        "<p>Their verdicts check that the pipeline measures what the paper measured; they do not replicate "
        "it. Only runs with the paper's matrix sizes and models compare number for number; how this repository "
        "departs from the paper, and why, is in <code>docs/departures.md</code>, and what the CPU recipes reach in "
        "<code>docs/cpu-recipes.md</code>.</p>"
    )
