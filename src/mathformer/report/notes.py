"""Notes under the report's figures and tables that say why a panel lacks a line or a mark by design.

A reader who finds a panel without the paper's mark, or a training spectrum without a curve,
should not have to guess whether something failed. Each note is worked out from the results and
the claims file, so it names the runs it is about at any scale.
"""

from __future__ import annotations

import os

from mathformer.analysis.catalogue import REFERENCE_SPECTRUM
from mathformer.analysis.claims import load_claims, paper_values
from mathformer.report.notebook import read_result_table


def _named(runs: list[str], roles: dict[str, str]) -> str:
    """Runs as the report names them: with the paper's experiment each stands for, where it has one."""
    return ", ".join(f"{run} (the paper's {roles[run]})" if run in roles else run for run in runs)


def paper_marks_note(
    claims: str | os.PathLike, scale: str, results_dir: str | os.PathLike, table: str, marks: str
) -> str:
    """Which runs of a figure drawn from `table` carry the paper's values (`marks`: how the figure
    draws them, "Stars"), and that the others carry none because the paper gives no number for them."""
    frame = read_result_table(results_dir, table)
    if frame is None or "run" not in frame:
        return ""
    roles, _ = load_claims(claims)
    role_of = {run: role for role, run in roles.get(scale, {}).items()}
    values = [value for value in paper_values(claims, scale) if value.table == table]
    shown = list(dict.fromkeys(frame["run"].astype(str)))
    marked = [run for run in shown if any(value.run == run for value in values)]
    unmarked = [run for run in shown if run not in marked]
    if not marked:
        return f"No {marks.lower()} for the paper's values: it gives no number for {_named(shown, role_of)}."
    note = f"{marks}: the paper's values, on the panels of {_named(marked, role_of)}."
    if unmarked:
        note += f" None on {_named(unmarked, role_of)}: the paper gives no number for them."
    if table == "roughly_right" and not any(value.statistic.startswith("failed_") for value in values):
        note += " None on the decoded-failures panels: the paper gives no number for the failures' shares."
    return note


def learning_curves_note(results_dir: str | os.PathLike) -> str:
    """Why a training spectrum has no curve on the reference test set (semicircle), from the
    examples-to-accuracy table, which has a row for each training spectrum and evaluation set with a curve."""
    frame = read_result_table(results_dir, "examples_to_accuracy")
    if frame is None or not len(frame) or REFERENCE_SPECTRUM not in set(frame["evaluated_on"]):
        return ""
    spectra = list(dict.fromkeys(frame["train_spectrum"].astype(str)))
    on_reference = set(frame.loc[frame["evaluated_on"] == REFERENCE_SPECTRUM, "train_spectrum"].astype(str))
    notes = []
    for spectrum in spectra:
        if spectrum in on_reference:
            continue
        if spectrum == REFERENCE_SPECTRUM:
            notes.append(
                f"The model trained on {spectrum} has no {REFERENCE_SPECTRUM} test-set curve (no line in that panel, no row "
                f"evaluated on it), by design: {spectrum} is its own spectrum, so its validation curve is that curve."
            )
        else:
            notes.append(
                f"The model trained on {spectrum} has no {REFERENCE_SPECTRUM} test-set curve: its training log holds none."
            )
    return " ".join(notes)
