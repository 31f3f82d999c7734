# Adapters only: the plan of this config (mathformer.planning, unit-tested) as the input and param
# functions (all named get_*) that the rules in the other .smk files call, the wildcard
# constraints, and the report() wrappers of the analyses' outputs. Which jobs a config needs and
# where their files lie is decided there (paths: mathformer.formats.results_layout), not here.

import re
import shlex
from pathlib import Path

from mathformer.analysis import catalogue
from mathformer.core.problems import LAWS, SPECTRA, TASKS
from mathformer.formats import results_layout as layout
from mathformer.formats import run_folder
from mathformer.planning.analyses import (
    analysis_outputs,
    failure_predictions,
    ood_logs,
    ood_summaries,
    training_models,
)
from mathformer.planning.datasets import ROLES
from mathformer.planning.plan import Plan
from mathformer.planning.runs import FINAL, WEAK

try:
    PLAN = Plan.from_config(config)
except ValueError as error:
    # Raised anew here, so that Snakemake prints the reason without the planning's frames.
    raise ValueError(str(error)) from None


# Workflow files read by rules; absolute so that `--directory` (the smoke test) still finds them.
NOTEBOOK_DIR = Path(workflow.basedir) / "workflow" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CLAIMS = Path(workflow.basedir) / "config" / "claims.yaml"

# The results and report folders as a shell command spells them, from the job's wildcards.
SHELL_RESULTS = layout.RESULTS.format(scale="{wildcards.scale}")
SHELL_REPORT_DIR = layout.REPORT_DIR.format(scale="{wildcards.scale}")


def alternatives(names) -> str:
    """A regex matching exactly one of `names` (and nothing at all when there are none)."""
    names = list(names)
    return "|".join(map(re.escape, names)) if names else "(?!)"


wildcard_constraints:
    scale=re.escape(PLAN.scale),
    run=alternatives(PLAN.runs),
    task=alternatives(TASKS),
    spectrum=alternatives(SPECTRA),
    law=alternatives(LAWS),
    n=r"\d+",
    coeff_range=r"\d[0-9.e+-]*",
    role=alternatives(ROLES),
    weights=alternatives((FINAL, WEAK)),


def labelled(flag: str, paths: dict[str, str]) -> list[str]:
    """`FLAG LABEL=PATH` for each item, quoted for the shell."""
    return [f"{flag} {shlex.quote(f'{label}={path}')}" for label, path in paths.items()]


# ---- data sets -------------------------------------------------------------------------------


def get_dataset_size(wildcards) -> int:
    return PLAN.data.size(wildcards.role)


def get_dataset_seed(wildcards) -> int:
    return PLAN.data.seed_of(
        wildcards.task,
        wildcards.n,
        wildcards.law,
        wildcards.coeff_range,
        wildcards.spectrum,
        wildcards.role,
    )


# ---- training --------------------------------------------------------------------------------


def get_valid_set(wildcards) -> str:
    return PLAN.valid_set(wildcards.run)


def get_monitored_sets(wildcards) -> list[str]:
    return list(PLAN.monitored_sets(wildcards.run).values())


def get_monitor_flags(wildcards) -> str:
    return " ".join(labelled("--test", PLAN.monitored_sets(wildcards.run)))


def get_train_options(wildcards) -> str:
    """The run's settings as flags: any change to them changes this param, so Snakemake retrains
    that run only. Operational ones travel as a resource instead, which Snakemake does not watch."""
    return shlex.join(PLAN.train_arguments(wildcards.run))


def get_init_model(wildcards) -> list[str]:
    """The model a run starts from (`init_from`), so that it trains first; none for most runs."""
    source = PLAN.runs[wildcards.run].settings.init_from
    return [] if source is None else [source]


def get_checkpoint_minutes(wildcards) -> str:
    return f"{PLAN.runs[wildcards.run].settings.checkpoint_minutes:g}"


def get_run_dir(wildcards, output) -> str:
    return str(Path(output.model).parent)


# ---- evaluation ------------------------------------------------------------------------------


def get_evaluation_set(wildcards) -> str:
    return PLAN.dataset_path(wildcards.run, wildcards.spectrum, wildcards.role)


# ---- analyses --------------------------------------------------------------------------------


def get_roughly_right_inputs(wildcards) -> dict[str, str]:
    return failure_predictions(PLAN, "roughly_right")


def get_predictability_inputs(wildcards) -> dict[str, str]:
    return failure_predictions(PLAN, "predictability")


def get_run_flags(wildcards, input) -> str:
    """`--run LABEL=PREDICTIONS` for every named input (the labels come from the input function),
    less `_claims`, the claims file (no run label starts with '_')."""
    return " ".join(labelled("--run", {label: path for label, path in input.items() if label != "_claims"}))


def get_ood_summaries(wildcards) -> list[str]:
    return list(ood_summaries(PLAN).values())


def get_ood_logs(wildcards) -> list[str]:
    return list(ood_logs(PLAN).values())


def get_ood_flags(wildcards) -> str:
    return " ".join([*labelled("--summary", ood_summaries(PLAN)), *labelled("--log", ood_logs(PLAN))])


def get_training_flags(wildcards) -> str:
    return " ".join(labelled("--model", training_models(PLAN)))


def get_report_inputs(wildcards) -> list[str]:
    return analysis_outputs(PLAN)


def analysis_files(analysis: str) -> dict:
    """The named outputs of an analysis rule, from mathformer.analysis.catalogue (the file names'
    one owner): every table's CSV, Markdown and LaTeX and every figure's PNG and PDF; the CSV and
    PNG are items of Snakemake's report, in the analysis's category."""
    named = {}
    for output, path, reported in catalogue.files(analysis):
        key = f"{output.kind}_{output.name}_{Path(path).suffix[1:]}"
        path = f"{layout.RESULTS}/{path}"
        if reported:
            labels = {"kind": output.kind, "name": output.label}
            path = report(path, category=catalogue.CATEGORIES[analysis], labels=labels)
        named[key] = path
    return named
