"""The paper's three results, computed from predictions tables, summaries and training logs.

failures: result 1 (wrong predictions are roughly right) and result 2 (failures are predictable).
ood: result 3 (the training distribution decides how far a model generalizes, and how fast it learns).
claims: this run's numbers beside the paper's, with a verdict each.
Each module is pure functions (tables in, tables out) plus one thin entry point per CLI verb.
"""

from mathformer.analysis.failures import CONDITION_OF, predictability, roughly_right
from mathformer.analysis.ood import ood_study

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

__all__ = ["ANALYSIS_TASKS", "FAILURE_ANALYSES", "ood_study", "predictability", "roughly_right"]
