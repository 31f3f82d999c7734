"""The analyses: which tasks each applies to, and every file each writes.

The one list the analyses write from and the workflow (mathformer.planning) declares.

A table NAME is written as tables/NAME.{csv,md,tex}, a figure NAME as figures/NAME.{png,pdf},
under the scale's results folder. workflow/rules/analysis.smk builds each rule's outputs from
`OUTPUTS`; the analyses write their files under these names and no others (a test checks both).
"""

from __future__ import annotations

from dataclasses import dataclass

TABLE_SUFFIXES = ("csv", "md", "tex")
FIGURE_SUFFIXES = ("png", "pdf")
FOLDERS = {"table": "tables", "figure": "figures"}

# The condition number that result 2 is about, per task, and what it is the condition number of.
CONDITION_OF = {
    "eigenvalues": ("input_cond", "the input matrix"),
    "eigenvectors": ("pred_vectors_cond", "the predicted eigenvectors"),
    "inversion": ("input_cond", "the input matrix"),
    "syminverse": ("input_cond", "the input matrix"),
}
# The analyses a run may feed, and the tasks each accepts: the workflow validates run rows
# against this. roughly_right needs eigenvectors; predictability any task with a condition
# number to study; ood any task whose input has a spectrum (inversion ignores it).
ANALYSIS_TASKS = {
    "roughly_right": ("eigenvectors",),
    "predictability": tuple(CONDITION_OF),
    "ood": ("eigenvalues", "eigenvectors", "syminverse"),
}
# Analyses whose runs are evaluated on the failure-analysis test set of their own spectrum.
FAILURE_ANALYSES = ("roughly_right", "predictability")


@dataclass(frozen=True)
class Output:
    name: str
    kind: str  # "table" or "figure"
    label: str  # what it shows, for Snakemake's report


# Snakemake report categories, one per analysis.
CATEGORIES = {
    "roughly_right": "1. Roughly right",
    "predictability": "2. Predictable failures",
    "ood": "3. Out of distribution",
    "training": "Training",
}
OUTPUTS: dict[str, tuple[Output, ...]] = {
    "roughly_right": (
        Output("roughly_right", "table", "properties of correct and failed predictions"),
        Output("roughly_right", "figure", "properties of correct and failed predictions"),
    ),
    "predictability": (
        Output("condition_numbers", "table", "condition numbers"),
        Output("failure_predictors", "table", "failure predictors"),
        Output("inverse_distance", "table", "distance to the true inverse"),
        Output("condition_histograms", "figure", "condition numbers"),
        Output("roc_curves", "figure", "ROC curves"),
    ),
    "ood": (
        Output("ood_accuracy", "table", "accuracy at 5 %"),
        Output("ood_accuracy_2", "table", "accuracy at 2 %"),
        Output("ood_accuracy_1", "table", "accuracy at 1 %"),
        Output("ood_accuracy_interval", "table", "accuracy at 5 % with 95 % intervals"),
        Output("examples_to_accuracy", "table", "training examples to reach an accuracy"),
        Output("ood_heatmap", "figure", "accuracy heatmap"),
        Output("learning_curves", "figure", "learning curves"),
    ),
    "training": (
        Output("training", "table", "examples, minutes and accuracy of each model"),
        Output("seed_spread", "table", "spread of accuracy across seeds"),
    ),
}


def names(analysis: str, kind: str) -> tuple[str, ...]:
    """The table (or figure) names of one analysis, in order."""
    return tuple(output.name for output in OUTPUTS[analysis] if output.kind == kind)


def files(analysis: str) -> list[tuple[Output, str, bool]]:
    """(output, path relative to the results folder, whether it is the report's item) of every
    file of an analysis: the CSV of a table and the PNG of a figure are Snakemake report items."""
    listed = []
    for output in OUTPUTS[analysis]:
        suffixes = TABLE_SUFFIXES if output.kind == "table" else FIGURE_SUFFIXES
        for index, suffix in enumerate(suffixes):
            listed.append((output, f"{FOLDERS[output.kind]}/{output.name}.{suffix}", index == 0))
    return listed
