# Helpers only: the run table built from config, wildcard constraints, and the input/param
# functions (all named get_*) that the rules in the other .smk files call.

import re
import shlex
from dataclasses import fields, replace
from pathlib import Path

from mathformer.formats import run_folder
from mathformer.analysis.catalogue import ANALYSIS_TASKS, FAILURE_ANALYSES
from mathformer.analysis import catalogue as analysis_outputs_of
from mathformer.formats.run_folder import seeded_run_name
from mathformer.core.config import OPERATIONAL_FIELDS, RunConfig
from mathformer.formats.datasets import dataset_seed
from mathformer.core.problems import LAWS, SPECTRA, TASKS

SCALE = config["scale"]


# Workflow files read by rules; absolute so that `--directory` (the smoke test) still finds them.
NOTEBOOK_DIR = Path(workflow.basedir) / "workflow" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CLAIMS = Path(workflow.basedir) / "config" / "claims.yaml"


# ---- the run table ---------------------------------------------------------------------------


def seed_run_names(name: str, seeds: list[int] | None) -> dict[str, int | None]:
    """The runs a row becomes: itself, or one `<name>_s<seed>` per seed when it lists several."""
    if not seeds or len(seeds) == 1:
        return {name: seeds[0] if seeds else None}
    return {seeded_run_name(name, seed): seed for seed in seeds}


def load_runs(rows: list[dict], defaults: dict) -> dict[str, dict]:
    """name -> {"settings": RunConfig, "analyses": [...]}; a row listing several `seeds` gives
    one run per seed (`<name>_s<seed>`). Stops at the first bad row, naming it."""
    workflow_keys = ("name", "experiment", "analyses", "seeds")
    runs = {}
    for row in rows:
        seeds = row.get("seeds", defaults.get("seeds"))
        for name, seed in seed_run_names(row["name"], seeds).items():
            if name in runs:
                raise ValueError(f"run name {name!r} appears twice in config 'runs'; names must be unique")
            settings = {key: value for key, value in defaults.items() if key != "seeds"}
            settings |= {key: value for key, value in row.items() if key not in workflow_keys}
            if seed is not None:
                settings["seed"] = seed
            try:
                run_config = RunConfig.from_dict(settings)
            except ValueError as error:
                raise ValueError(f"config run {name!r}: {error}") from None
            for analysis in row.get("analyses", []):
                if run_config.task not in ANALYSIS_TASKS[analysis]:
                    raise ValueError(
                        f"config run {name!r}: analysis {analysis!r} does not apply to task "
                        f"{run_config.task!r}; it applies to {', '.join(ANALYSIS_TASKS[analysis])}"
                    )
            runs[name] = {"settings": run_config, "analyses": list(row.get("analyses", []))}
    return runs


def resolve_init_from(runs: dict[str, dict]) -> dict[str, dict]:
    """A run's `init_from` names another run; the run config gets that run's model.pt path."""
    for name, run in runs.items():
        source = run["settings"].init_from
        if source is None:
            continue
        if source not in runs or source == name:
            others = ", ".join(other for other in runs if other != name)
            raise ValueError(f"config run {name!r}: init_from {source!r} is not another run; runs: {others}")
        path = f"results/{SCALE}/models/{source}/{run_folder.MODEL}"
        run["settings"] = replace(run["settings"], init_from=path)
    return runs


RUNS = resolve_init_from(load_runs(config["runs"], config["run_defaults"]))


def alternatives(names) -> str:
    """A regex matching exactly one of `names` (and nothing at all when there are none)."""
    names = list(names)
    return "|".join(map(re.escape, names)) if names else "(?!)"


wildcard_constraints:
    scale=re.escape(SCALE),
    run=alternatives(RUNS),
    task=alternatives(TASKS),
    spectrum=alternatives(SPECTRA),
    law=alternatives(LAWS),
    n=r"\d+",
    coeff_range=r"\d[0-9.e+-]*",
    role="valid|test|ood",
    weights="model|weak",


def runs_for(analysis: str) -> list[str]:
    return [name for name, run in RUNS.items() if analysis in run["analyses"]]


def keeps_weak(name: str) -> bool:
    return RUNS[name]["settings"].weak_accuracy is not None


def weak_runs() -> list[str]:
    return [name for name in RUNS if keeps_weak(name)]


def evaluated_models(name: str) -> list[str]:
    """The weights of a run that get evaluated: the final model, and the weak snapshot if kept
    (the stems of their file names, the `weights` wildcard)."""
    files = [run_folder.MODEL, run_folder.WEAK] if keeps_weak(name) else [run_folder.MODEL]
    return [Path(file).stem for file in files]


# Where a run's files live; the names inside are mathformer.formats.run_folder'.
RUN_DIR = "results/{scale}/models/{run}"


def run_outputs(weak: bool) -> dict[str, str]:
    """The train rule's outputs, by role (model, train_log, config, env, and weak when kept)."""
    return run_folder.declared_outputs(RUN_DIR, weak)


# ---- datasets --------------------------------------------------------------------------------

ROLE_SIZES = {"valid": "valid_size", "test": "test_size", "ood": "ood_size"}


def dataset_path(settings: RunConfig, spectrum: str, role: str) -> str:
    """The fixed set of `role` for the run's problem, drawn with the given spectrum."""
    # 15 significant digits: short for the usual values (10.0 -> "10"), and the CLI reads back
    # the very float the run trains on.
    return (
        f"results/{SCALE}/data/{settings.task}/n{settings.n}_{settings.law}_A{settings.coeff_range:.15g}/"
        f"{spectrum}_{role}.npz"
    )


def get_dataset_size(wildcards) -> int:
    return config["data"][ROLE_SIZES[wildcards.role]]


def get_dataset_seed(wildcards) -> int:
    """A seed per set (mathformer.formats.datasets.dataset_seed), from the set's identity in its path."""
    return dataset_seed(
        config["data"]["seed"],
        wildcards.task,
        wildcards.n,
        wildcards.law,
        wildcards.coeff_range,
        wildcards.spectrum,
        wildcards.role,
    )


def evaluation_sets(name: str) -> list[tuple[str, str]]:
    """(spectrum, role) of every test set a run is evaluated on."""
    run = RUNS[name]
    sets = []
    if any(analysis in run["analyses"] for analysis in FAILURE_ANALYSES):
        sets.append((run["settings"].spectrum, "test"))
    if "ood" in run["analyses"]:
        sets += [(spectrum, "ood") for spectrum in config["ood"]["test_spectra"]]
    return sets


def all_datasets() -> list[str]:
    paths = set()
    for name, run in RUNS.items():
        settings = run["settings"]
        paths.add(dataset_path(settings, settings.spectrum, "valid"))
        paths.update(dataset_path(settings, spectrum, role) for spectrum, role in evaluation_sets(name))
    return sorted(paths)


# ---- training --------------------------------------------------------------------------------


def monitored_sets(name: str) -> dict[str, str]:
    """Test sets scored after every epoch (learning curves per spectrum): test name -> path.

    An ood run always logs the semicircle set, on which the authors validate every E4 model
    (its own spectrum stays the validation set); ood.monitor adds every test spectrum.
    """
    run = RUNS[name]
    if "ood" not in run["analyses"]:
        return {}
    settings = run["settings"]
    spectra = config["ood"]["test_spectra"] if config["ood"]["monitor"] else ["semicircle"]
    return {
        spectrum: dataset_path(settings, spectrum, "ood")
        for spectrum in spectra
        if spectrum != settings.spectrum or config["ood"]["monitor"]
    }


def get_valid_set(wildcards) -> str:
    settings = RUNS[wildcards.run]["settings"]
    return dataset_path(settings, settings.spectrum, "valid")


def get_monitored_sets(wildcards) -> list[str]:
    return list(monitored_sets(wildcards.run).values())


def get_monitor_flags(wildcards) -> str:
    return " ".join(
        f"--test {shlex.quote(f'{test}={path}')}" for test, path in monitored_sets(wildcards.run).items()
    )


def option_flag(name: str, value) -> str:
    """The `mathformer train` flag for one RunConfig field (see mathformer.core.config.add_run_options)."""
    option = name.replace("_", "-")
    if isinstance(value, bool):
        return f"--{option}" if value else f"--no-{option}"
    return f"--{option} {shlex.quote('none' if value is None else str(value))}"


def get_train_options(wildcards) -> str:
    """Every RunConfig field that decides what the run computes, spelled out: the command alone
    says what the run computes, and any change to a run's settings changes this param, so
    Snakemake retrains that run only. Operational fields (checkpoint_minutes) travel as a
    resource instead, which Snakemake does not watch: changing them retrains nothing."""
    settings = RUNS[wildcards.run]["settings"]
    return " ".join(
        option_flag(spec.name, getattr(settings, spec.name))
        for spec in fields(settings)
        if spec.name not in OPERATIONAL_FIELDS
    )


def get_init_model(wildcards) -> list[str]:
    """The model a run starts from (`init_from`), so that it trains first; none for most runs."""
    source = RUNS[wildcards.run]["settings"].init_from
    return [] if source is None else [source]


def get_checkpoint_minutes(wildcards) -> str:
    return f"{RUNS[wildcards.run]['settings'].checkpoint_minutes:g}"


def get_run_dir(wildcards, output) -> str:
    return str(Path(output.model).parent)


def all_models() -> list[str]:
    return [
        f"results/{SCALE}/models/{name}/{weights}.pt" for name in RUNS for weights in evaluated_models(name)
    ]


# ---- evaluation ------------------------------------------------------------------------------


def get_evaluation_set(wildcards) -> str:
    return dataset_path(RUNS[wildcards.run]["settings"], wildcards.spectrum, wildcards.role)


def evaluation_path(name: str, weights: str, spectrum: str, role: str, suffix: str) -> str:
    return f"results/{SCALE}/eval/{name}/{weights}/{spectrum}_{role}.{suffix}"


def all_evaluations() -> list[str]:
    return [
        evaluation_path(name, weights, spectrum, role, suffix)
        for name in RUNS
        for weights in evaluated_models(name)
        for spectrum, role in evaluation_sets(name)
        for suffix in ("parquet", "json")
    ]


# ---- analyses --------------------------------------------------------------------------------


def failure_predictions(analysis: str) -> dict[str, str]:
    """Label -> predictions table of every model a failure analysis reads (weak ones as NAME_weak)."""
    tables = {}
    for name in runs_for(analysis):
        spectrum = RUNS[name]["settings"].spectrum
        for weights in evaluated_models(name):
            label = name if weights == "model" else f"{name}_weak"
            tables[label] = evaluation_path(name, weights, spectrum, "test", "parquet")
    return tables


def get_roughly_right_inputs(wildcards) -> dict[str, str]:
    return failure_predictions("roughly_right")


def get_predictability_inputs(wildcards) -> dict[str, str]:
    return failure_predictions("predictability")


def get_run_flags(wildcards, input) -> str:
    """`--run LABEL=PREDICTIONS` for every named input (the labels come from the input function),
    less `_claims`, the claims file (no run label starts with '_')."""
    return " ".join(
        f"--run {shlex.quote(f'{label}={path}')}" for label, path in input.items() if label != "_claims"
    )


def ood_summaries() -> dict[str, str]:
    """TRAIN/TEST -> summary JSON of each OOD run (TRAIN) on each test spectrum (TEST)."""
    return {
        f"{name}/{spectrum}": evaluation_path(name, "model", spectrum, "ood", "json")
        for name in runs_for("ood")
        for spectrum in config["ood"]["test_spectra"]
    }


def ood_logs() -> dict[str, str]:
    return {name: f"results/{SCALE}/models/{name}/{run_folder.TRAIN_LOG}" for name in runs_for("ood")}


def get_ood_summaries(wildcards) -> list[str]:
    return list(ood_summaries().values())


def get_ood_logs(wildcards) -> list[str]:
    return list(ood_logs().values())


def get_ood_flags(wildcards) -> str:
    summaries = (f"--summary {shlex.quote(f'{key}={path}')}" for key, path in ood_summaries().items())
    logs = (f"--log {shlex.quote(f'{key}={path}')}" for key, path in ood_logs().items())
    return " ".join([*summaries, *logs])


def get_training_flags(wildcards) -> str:
    return " ".join(
        f"--model {shlex.quote(f'{name}=results/{wildcards.scale}/models/{name}')}" for name in RUNS
    )


def scheduled_analyses() -> list[str]:
    """The analysis rules this config needs (an analysis with no runs is left out)."""
    per_task = [f"analyse_{analysis}" for analysis in ANALYSIS_TASKS if runs_for(analysis)]
    return [*per_task, "analyse_training"] if RUNS else per_task


def analysis_outputs(analyses: list[str], folder: str | None = None) -> list[str]:
    """Outputs of the given analysis rules, all or only those under results/<scale>/<folder>/."""
    paths = [path for analysis in analyses for path in expand(getattr(rules, analysis).output, scale=SCALE)]
    return [path for path in paths if folder is None or Path(path).parent.name == folder]


def get_report_inputs(wildcards) -> list[str]:
    return analysis_outputs(scheduled_analyses())


def report_notebooks() -> list[str]:
    return [f"results/{{scale}}/report/{notebook.stem}.ipynb" for notebook in NOTEBOOKS]


# ---- targets ---------------------------------------------------------------------------------


def failure_outputs() -> list[str]:
    wanted = ("analyse_roughly_right", "analyse_predictability")
    return analysis_outputs([rule for rule in scheduled_analyses() if rule in wanted])


def ood_outputs() -> list[str]:
    return analysis_outputs([rule for rule in scheduled_analyses() if rule == "analyse_ood"])


def report_output() -> str:
    return f"results/{SCALE}/report/report.html"


# ---- analysis outputs --------------------------------------------------------------------------


def analysis_files(analysis: str) -> dict:
    """The named outputs of an analysis rule, from mathformer.analysis.catalogue (the file names'
    one owner): every table's CSV, Markdown and LaTeX and every figure's PNG and PDF; the CSV and
    PNG are items of Snakemake's report, in the analysis's category."""
    named = {}
    for output, path, reported in analysis_outputs_of.files(analysis):
        key = f"{output.kind}_{output.name}_{Path(path).suffix[1:]}"
        path = f"results/{{scale}}/{path}"
        if reported:
            labels = {"kind": output.kind, "name": output.label}
            path = report(path, category=analysis_outputs_of.CATEGORIES[analysis], labels=labels)
        named[key] = path
    return named
