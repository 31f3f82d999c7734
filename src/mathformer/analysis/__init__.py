"""The paper's three results, computed from predictions tables, summaries and training logs.

roughly_right (result 1), predictability (result 2: condition numbers) with predictors (the
failure predictors, the one sklearn user), both on failures (what a failure is, the runs they
read); ood (result 3); training (how each model trained); claims (this run's numbers beside the
paper's, with a verdict each); catalogue (which analysis applies to which task, and the files
each writes); output_set (an analysis's files, written together or not at all). Each analysis
is pure functions (tables in, tables out) plus one thin entry point per CLI verb. No torch:
they read files, never models.
"""
