"""The analyses a plan schedules, the files each reads and the files each writes."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import PurePosixPath

from mathformer.analysis import catalogue
from mathformer.formats import run_folder
from mathformer.planning.plan import Plan
from mathformer.planning.runs import FINAL

# How every model trained: scheduled whenever there are runs (it reads them all, asks none).
TRAINING = "training"


def scheduled_analyses(plan: Plan) -> list[str]:
    """The analyses this config needs, in catalogue order; one that no run feeds is left out."""
    fed = [analysis for analysis in catalogue.ANALYSIS_TASKS if plan.runs_for(analysis)]
    return [*fed, TRAINING] if plan.runs else fed


def failure_predictions(plan: Plan, analysis: str) -> dict[str, str]:
    """Label -> predictions table of every model a failure analysis reads, on the test set of its
    own spectrum: a run's final model under its name, its weak snapshot as NAME_weak."""
    tables = {}
    for name in plan.runs_for(analysis):
        test_set = plan.dataset(name, plan.runs[name].settings.spectrum, "test")
        for weights in plan.runs[name].weights:
            label = name if weights == FINAL else f"{name}_{weights}"
            tables[label] = plan.paths.predictions(name, weights, test_set)
    return tables


def ood_summaries(plan: Plan) -> dict[str, str]:
    """TRAIN/TEST -> summary of each ood run (TRAIN) on each test spectrum (TEST)."""
    return {
        f"{name}/{spectrum}": plan.paths.summary(name, FINAL, plan.dataset(name, spectrum, "ood"))
        for name in plan.runs_for("ood")
        for spectrum in plan.ood_spectra
    }


def ood_logs(plan: Plan) -> dict[str, str]:
    """Run -> training log of each ood run (its learning curves)."""
    return {name: plan.paths.run_file(name, run_folder.TRAIN_LOG) for name in plan.runs_for("ood")}


def training_models(plan: Plan) -> dict[str, str]:
    """Run -> folder of every run, for the analysis of how each trained."""
    return {name: plan.paths.run_dir(name) for name in plan.runs}


def analysis_files(plan: Plan, analysis: str) -> list[str]:
    """Every file one analysis writes: its tables and figures (in catalogue order), and for the
    training analysis the copy of each run's training log."""
    files = [plan.paths.results_file(path) for _, path, _ in catalogue.files(analysis)]
    if analysis == TRAINING:
        files += [plan.paths.train_log_copy(name) for name in plan.runs]
    return files


def analysis_outputs(plan: Plan, only: Collection[str] | None = None, folder: str | None = None) -> list[str]:
    """The files of the scheduled analyses (those in `only`, when given), all or only those in
    results/<scale>/<folder>/."""
    return [
        path
        for analysis in scheduled_analyses(plan)
        if only is None or analysis in only
        for path in analysis_files(plan, analysis)
        if folder is None or PurePosixPath(path).parent.name == folder
    ]
