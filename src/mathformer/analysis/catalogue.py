"""The analyses: which tasks each applies to, and every file each writes.

The one list the analyses write from and the workflow (mathformer.planning) declares.

A table NAME is written as tables/NAME.{csv,md,tex}, a figure NAME as figures/NAME.{png,pdf},
under the scale's results folder. workflow/rules/analysis.smk builds each rule's outputs from
`OUTPUTS`; the analyses write their files under these names and no others (a test checks both).
"""

from __future__ import annotations

from dataclasses import dataclass

from mathformer.core.metrics import HEADLINE_TOLERANCE

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
# The OOD spectrum every ood run is also scored on during training (the authors validate every E4
# model on it), whose learning curve the ood study draws beside the validation curve. A run
# trained on it logs no second curve of it: its validation set is of that spectrum.
REFERENCE_SPECTRUM = "semicircle"


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
# The tolerances the OOD and training tables report, as the paper does: 5, 2 and 1 %.
REPORTED_TOLERANCES = (HEADLINE_TOLERANCE, 0.02, 0.01)
# Every output, named once here; the analyses write them by these objects.
ROUGHLY_RIGHT_TABLE = Output("roughly_right", "table", "properties of correct and failed predictions")
ROUGHLY_RIGHT_FIGURE = Output("roughly_right", "figure", "properties of correct and failed predictions")
CONDITION_NUMBERS = Output("condition_numbers", "table", "condition numbers")
FAILURE_PREDICTORS = Output("failure_predictors", "table", "failure predictors")
INVERSE_DISTANCE = Output("inverse_distance", "table", "distance to the true inverse")
CONDITION_HISTOGRAMS = Output("condition_histograms", "figure", "condition numbers")
ROC_CURVES = Output("roc_curves", "figure", "ROC curves")
# The OOD accuracy tables, by tolerance: the headline one, and companions named by their
# percentage (ood_accuracy_2, ood_accuracy_1).
OOD_ACCURACY = {
    tolerance: Output(
        "ood_accuracy" + ("" if tolerance == HEADLINE_TOLERANCE else f"_{100 * tolerance:g}"),
        "table",
        f"accuracy at {100 * tolerance:g} %",
    )
    for tolerance in REPORTED_TOLERANCES
}
OOD_ACCURACY_INTERVAL = Output(
    "ood_accuracy_interval", "table", f"accuracy at {100 * HEADLINE_TOLERANCE:g} % with 95 % intervals"
)
EXAMPLES_TO_ACCURACY = Output("examples_to_accuracy", "table", "training examples to reach an accuracy")
OOD_HEATMAP = Output("ood_heatmap", "figure", "accuracy heatmap")
LEARNING_CURVES = Output("learning_curves", "figure", "learning curves")
TRAINING = Output("training", "table", "examples, minutes and accuracy of each model")
SEED_SPREAD = Output("seed_spread", "table", "spread of accuracy across seeds")

OUTPUTS: dict[str, tuple[Output, ...]] = {
    "roughly_right": (ROUGHLY_RIGHT_TABLE, ROUGHLY_RIGHT_FIGURE),
    "predictability": (
        CONDITION_NUMBERS,
        FAILURE_PREDICTORS,
        INVERSE_DISTANCE,
        CONDITION_HISTOGRAMS,
        ROC_CURVES,
    ),
    "ood": (
        *OOD_ACCURACY.values(),
        OOD_ACCURACY_INTERVAL,
        EXAMPLES_TO_ACCURACY,
        OOD_HEATMAP,
        LEARNING_CURVES,
    ),
    "training": (TRAINING, SEED_SPREAD),
}


def suffixes(output: Output) -> tuple[str, ...]:
    """The file suffixes an output is written as."""
    return TABLE_SUFFIXES if output.kind == "table" else FIGURE_SUFFIXES


def paths(output: Output) -> list[str]:
    """The output's files, relative to the results folder (tables/NAME.csv, ...)."""
    return [f"{FOLDERS[output.kind]}/{output.name}.{suffix}" for suffix in suffixes(output)]


def names(analysis: str, kind: str) -> tuple[str, ...]:
    """The table (or figure) names of one analysis, in order."""
    return tuple(output.name for output in OUTPUTS[analysis] if output.kind == kind)


def files(analysis: str) -> list[tuple[Output, str, bool]]:
    """(output, path relative to the results folder, whether it is the report's item) of every
    file of an analysis: the CSV of a table and the PNG of a figure are Snakemake report items."""
    return [
        (output, path, index == 0) for output in OUTPUTS[analysis] for index, path in enumerate(paths(output))
    ]
