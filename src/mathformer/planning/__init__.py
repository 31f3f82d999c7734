"""The runs of a workflow config: their settings, seeds, data sets, evaluations and analyses."""
