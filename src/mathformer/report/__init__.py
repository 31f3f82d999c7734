"""The HTML report: papermill runs the notebooks over a results folder, nbconvert joins them."""
