"""The plan of a workflow config: its runs, and the sets, trainings and evaluations they need."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mathformer.analysis.catalogue import FAILURE_ANALYSES, REFERENCE_SPECTRUM
from mathformer.core.config import OPERATIONAL_FIELDS, run_arguments
from mathformer.formats import run_folder
from mathformer.planning.datasets import DataSet, DataSettings
from mathformer.planning.paths import ResultsPaths
from mathformer.planning.runs import Run, load_runs, resolve_init_from


@dataclass(frozen=True)
class Plan:
    """Everything one config asks for, computed once from it; paths are relative to the working
    directory, as the rules name them."""

    paths: ResultsPaths
    runs: Mapping[str, Run]
    data: DataSettings
    ood_spectra: tuple[str, ...]  # config ood.test_spectra: every ood run is evaluated on each
    monitor_ood: bool  # config ood.monitor: score all of them after every epoch too
    beam_size: int  # config evaluation.beam_size

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Plan:
        """From the workflow config as Snakemake holds it (validated, the schema's defaults filled
        in). A bad run row is a one-line ValueError naming the run."""
        paths = ResultsPaths(config["scale"])
        runs = load_runs(config["runs"], config.get("run_defaults", {}))
        runs = resolve_init_from(runs, lambda source: paths.run_file(source, run_folder.MODEL))
        return cls(
            paths=paths,
            runs=runs,
            data=DataSettings.from_config(config["data"]),
            ood_spectra=tuple(config["ood"]["test_spectra"]),
            monitor_ood=config["ood"]["monitor"],
            beam_size=config["evaluation"]["beam_size"],
        )

    @property
    def scale(self) -> str:
        return self.paths.scale

    def run_names(self, keeps_weak: bool) -> list[str]:
        """The runs that keep a weak snapshot (or those that do not)."""
        return [name for name, run in self.runs.items() if run.keeps_weak == keeps_weak]

    def runs_for(self, analysis: str) -> list[str]:
        return [name for name, run in self.runs.items() if analysis in run.analyses]

    # ---- data sets ---------------------------------------------------------------------------

    def dataset(self, run: str, spectrum: str, role: str) -> DataSet:
        """The set of `role` for the run's problem, drawn with the given spectrum."""
        return DataSet.of(self.runs[run].settings, spectrum, role)

    def dataset_path(self, run: str, spectrum: str, role: str) -> str:
        return self.paths.dataset(self.dataset(run, spectrum, role))

    def evaluation_sets(self, run: str) -> list[DataSet]:
        """Every test set the run is evaluated on: the failure-analysis test set of its own
        spectrum if it feeds a failure analysis, every OOD spectrum if it feeds ood."""
        analyses = self.runs[run].analyses
        sets = []
        if any(analysis in analyses for analysis in FAILURE_ANALYSES):
            sets.append(self.dataset(run, self.runs[run].settings.spectrum, "test"))
        if "ood" in analyses:
            sets += [self.dataset(run, spectrum, "ood") for spectrum in self.ood_spectra]
        return sets

    def all_datasets(self) -> list[str]:
        """Every set to generate: each run's validation set and the sets it is evaluated on."""
        paths = {self.valid_set(name) for name in self.runs}
        paths.update(
            self.paths.dataset(dataset) for name in self.runs for dataset in self.evaluation_sets(name)
        )
        return sorted(paths)

    # ---- training ----------------------------------------------------------------------------

    def valid_set(self, run: str) -> str:
        return self.dataset_path(run, self.runs[run].settings.spectrum, "valid")

    def monitored_sets(self, run: str) -> dict[str, str]:
        """Test name -> path of the sets scored after every epoch (learning curves per spectrum).

        An ood run always logs the semicircle set, on which the authors validate every E4 model
        (its own spectrum stays the validation set); ood.monitor adds every test spectrum.
        """
        if "ood" not in self.runs[run].analyses:
            return {}
        own = self.runs[run].settings.spectrum
        spectra = self.ood_spectra if self.monitor_ood else (REFERENCE_SPECTRUM,)
        return {
            spectrum: self.dataset_path(run, spectrum, "ood")
            for spectrum in spectra
            if spectrum != own or self.monitor_ood
        }

    def train_arguments(self, run: str) -> list[str]:
        """Every setting that decides what the run computes, as `mathformer train` flags: the
        command alone says what the run computes, and any change to it changes these words.
        Operational settings (checkpoint_minutes) are left out: changing them must retrain nothing."""
        return run_arguments(self.runs[run].settings, leave_out=OPERATIONAL_FIELDS)

    def all_models(self) -> list[str]:
        return [
            self.paths.weights(name, weights) for name, run in self.runs.items() for weights in run.weights
        ]

    # ---- evaluation --------------------------------------------------------------------------

    def all_evaluations(self) -> list[str]:
        """The predictions table and summary of every evaluated model on each of its sets."""
        return [
            path(name, weights, dataset)
            for name, run in self.runs.items()
            for weights in run.weights
            for dataset in self.evaluation_sets(name)
            for path in (self.paths.predictions, self.paths.summary)
        ]
