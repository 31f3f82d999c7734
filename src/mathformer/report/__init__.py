"""The HTML report: papermill runs the notebooks over a results folder, nbconvert joins them; the helpers the notebooks call."""
