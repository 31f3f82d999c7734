"""The paper's three results, computed from predictions tables, summaries and training logs.

roughly right and predictability: results 1 and 2 (failures); ood: result 3; training: how each
model trained; claims: this run's numbers beside the paper's, with a verdict each; catalogue:
which analysis applies to which task and the files each writes. Each module is pure functions
(tables in, tables out) plus one thin entry point per CLI verb. No torch: they read files, never models.
"""
