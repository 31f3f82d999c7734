"""The mathematics (numpy, no torch): problems, number encodings, metrics, intervals, the run config."""
