"""The run table of a workflow config: one `Run` per row (one per seed), checked row by row."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any

from mathformer.analysis.catalogue import ANALYSIS_TASKS
from mathformer.core.config import RunConfig
from mathformer.formats import run_folder
from mathformer.formats.run_folder import seeded_run_name

# Keys of a config row that say how the workflow treats a run, not what it computes.
WORKFLOW_KEYS = ("name", "experiment", "analyses", "seeds")
# The weights a run may leave, by the stems of their file names (the rules' `weights` wildcard).
FINAL, WEAK = (PurePosixPath(name).stem for name in (run_folder.MODEL, run_folder.WEAK))


@dataclass(frozen=True)
class Run:
    """One model to train: its name, its settings and the analyses it feeds."""

    name: str
    settings: RunConfig
    analyses: tuple[str, ...]

    @property
    def keeps_weak(self) -> bool:
        return self.settings.weak_accuracy is not None

    @property
    def weights(self) -> tuple[str, ...]:
        """The weights that get evaluated: the final model, and the weak snapshot if kept."""
        return (FINAL, WEAK) if self.keeps_weak else (FINAL,)


def seed_run_names(name: str, seeds: Sequence[int] | None) -> dict[str, int | None]:
    """The runs a row becomes: itself, or one `<name>_s<seed>` per seed when it lists several."""
    if not seeds or len(seeds) == 1:
        return {name: seeds[0] if seeds else None}
    return {seeded_run_name(name, seed): seed for seed in seeds}


def load_runs(rows: Sequence[Mapping[str, Any]], defaults: Mapping[str, Any]) -> dict[str, Run]:
    """name -> Run: each row over `defaults` (config `run_defaults`); a row listing several `seeds`
    gives one run per seed. Stops at the first bad row with a one-line error naming the run."""
    runs: dict[str, Run] = {}
    for row in rows:
        for name, seed in seed_run_names(row["name"], row.get("seeds", defaults.get("seeds"))).items():
            if name in runs:
                raise ValueError(f"run name {name!r} appears twice in config 'runs'; names must be unique")
            runs[name] = _run(name, row, defaults, seed)
    return runs


def _run(name: str, row: Mapping[str, Any], defaults: Mapping[str, Any], seed: int | None) -> Run:
    settings = {key: value for key, value in defaults.items() if key != "seeds"}
    settings |= {key: value for key, value in row.items() if key not in WORKFLOW_KEYS}
    if seed is not None:
        settings["seed"] = seed
    try:
        run_config = RunConfig.from_dict(settings)
    except ValueError as error:
        raise ValueError(f"config run {name!r}: {error}") from None
    analyses = tuple(row.get("analyses", ()))
    for analysis in analyses:
        if run_config.task not in ANALYSIS_TASKS[analysis]:
            raise ValueError(
                f"config run {name!r}: analysis {analysis!r} does not apply to task "
                f"{run_config.task!r}; it applies to {', '.join(ANALYSIS_TASKS[analysis])}"
            )
    return Run(name, run_config, analyses)


def resolve_init_from(runs: Mapping[str, Run], model_path: Callable[[str], str]) -> dict[str, Run]:
    """The runs with each `init_from` (the name of another run) replaced by that run's model path."""
    resolved = {}
    for name, run in runs.items():
        source = run.settings.init_from
        if source is not None:
            if source not in runs or source == name:
                others = ", ".join(other for other in runs if other != name)
                raise ValueError(
                    f"config run {name!r}: init_from {source!r} is not another run; runs: {others}"
                )
            run = replace(run, settings=replace(run.settings, init_from=model_path(source)))
        resolved[name] = run
    return resolved
