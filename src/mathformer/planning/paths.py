"""The paths of one scale's files: mathformer.formats.results_layout's patterns, filled in."""

from __future__ import annotations

from dataclasses import dataclass

from mathformer.formats import results_layout as layout
from mathformer.planning.datasets import DataSet


@dataclass(frozen=True)
class ResultsPaths:
    """Where the files of results/<scale>/ lie, for one scale."""

    scale: str

    @property
    def results(self) -> str:
        return layout.RESULTS.format(scale=self.scale)

    @property
    def report(self) -> str:
        return layout.REPORT.format(scale=self.scale)

    def dataset(self, dataset: DataSet) -> str:
        return layout.DATASET.format(scale=self.scale, **dataset.path_fields())

    def run_dir(self, run: str) -> str:
        return layout.RUN_DIR.format(scale=self.scale, run=run)

    def run_file(self, run: str, name: str) -> str:
        """A file of a run's folder, by its name in mathformer.formats.run_folder."""
        return f"{self.run_dir(run)}/{name}"

    def weights(self, run: str, weights: str) -> str:
        return layout.WEIGHTS.format(scale=self.scale, run=run, weights=weights)

    def predictions(self, run: str, weights: str, dataset: DataSet) -> str:
        return layout.PREDICTIONS.format(**self._evaluation(run, weights, dataset))

    def summary(self, run: str, weights: str, dataset: DataSet) -> str:
        return layout.SUMMARY.format(**self._evaluation(run, weights, dataset))

    def _evaluation(self, run: str, weights: str, dataset: DataSet) -> dict[str, str]:
        return {
            "scale": self.scale,
            "run": run,
            "weights": weights,
            "spectrum": dataset.spectrum,
            "role": dataset.role,
        }

    def results_file(self, relative: str) -> str:
        """A file of the results folder by its path there (the analyses' tables/ and figures/)."""
        return f"{self.results}/{relative}"

    def train_log_copy(self, run: str) -> str:
        return layout.TRAIN_LOG_COPY.format(scale=self.scale, run=run)
