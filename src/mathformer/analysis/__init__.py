"""The paper's three results, computed from predictions tables, summaries and training logs.

failures: result 1 (wrong predictions are roughly right) and result 2 (failures are predictable).
ood: result 3 (the training distribution decides how far a model generalizes, and how fast it learns).
claims: this run's numbers beside the paper's, with a verdict each.
Each module is pure functions (tables in, tables out) plus one thin entry point per CLI verb.
"""

from mathformer.analysis.failures import predictability, roughly_right
from mathformer.analysis.ood import ood_study

__all__ = ["ood_study", "predictability", "roughly_right"]
