"""The Snakemake workflow: what it schedules, how it checks its config, and (slow) a real run.

Snakemake is called the way users call it, as a subprocess, with the venv first on PATH so that
its shell commands find the `mathformer`, papermill and jupyter of this environment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import zipfile
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mathformer import cli
from mathformer.core.config import PRECISIONS, SCHEDULES, RunConfig
from mathformer.core.encoding import ENCODINGS
from mathformer.core.problems import LAWS, SPECTRA, TASKS
from mathformer.planning.plan import Plan
from pipeline_runs import copy_working_tree

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "tests" / "smoke"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
CPU_PROFILE = ROOT / "profiles" / "cpu"
DEFAULT_PROFILE = ROOT / "profiles" / "default"

# The paper's experiments as jobs: 10 models (E1, E2 at 6x6, E3, seven E4), E1 keeping a weak
# snapshot; 20 fixed sets (10 validation, 3 failure-analysis test sets, 7 OOD); 53 evaluations
# (E1 final and weak, E2, E3 on their test sets, and 7 x 7 for E4); one job per analysis, one
# summarising the training of every model.
PAPER_JOBS = {
    "generate": 20,
    "train": 9,
    "train_keeping_weak": 1,
    "evaluate": 53,
    "analyse_roughly_right": 1,
    "analyse_predictability": 1,
    "analyse_ood": 1,
    "analyse_training": 1,
    "render_report": 1,
    "all": 1,
}
E4_SPECTRA = ("semicircle", "uniform", "gaussian", "laplace", "positive", "positive2", "marcenko")


def snakemake(*args: str | Path, directory: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess:
    """Run `python -m snakemake ARGS` in `directory`; on an unexpected failure show its output."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [sys.executable, "-m", "snakemake", *map(str, args)]
    result = subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def job_counts(dry_run_output: str) -> Counter:
    """Jobs per rule from the 'Job stats' table of a dry run."""
    counts: Counter = Counter()
    table = dry_run_output.split("Job stats:", 1)[1]
    for line in table.splitlines()[3:]:
        fields = line.split()
        if len(fields) != 2 or fields[0] == "total":
            break
        counts[fields[0]] = int(fields[1])
    return counts


def shell_commands(dry_run_output: str, verb: str) -> list[str]:
    """The `mathformer VERB ...` commands a dry run with --printshellcmds would execute."""
    return re.findall(rf"^(?:Shell command:)?\s*(mathformer {verb} .*)$", dry_run_output, flags=re.MULTILINE)


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def paper_dry_run() -> str:
    return snakemake("-n", "-p", "--workflow-profile", DEFAULT_PROFILE).stdout


# ---- the DAG ----------------------------------------------------------------------------------


def test_paper_config_schedules_every_experiment(paper_dry_run):
    assert job_counts(paper_dry_run) == Counter(PAPER_JOBS)


def test_every_eigenvalue_model_is_tested_on_every_spectrum(paper_dry_run):
    evaluated = set(
        re.findall(
            r"--model results/paper/models/(eigval_\w+)/model\.pt --data \S+/(\w+)_ood\.npz", paper_dry_run
        )
    )
    assert evaluated == {(f"eigval_{train}", test) for train in E4_SPECTRA for test in E4_SPECTRA}


def test_failure_analyses_read_the_final_and_the_weak_eigenvector_models(paper_dry_run):
    (roughly_right,) = shell_commands(paper_dry_run, "analyse roughly-right")
    (predictability,) = shell_commands(paper_dry_run, "analyse predictability")
    labels = lambda command: re.findall(r"--run (\w+)=", command)  # noqa: E731
    assert labels(roughly_right) == ["eigvec5", "eigvec5_weak", "eigvec6"]
    assert labels(predictability) == ["eigvec5", "eigvec5_weak", "eigvec6", "inv5"]
    assert "results/paper/eval/eigvec5/weak/semicircle_test.parquet" in roughly_right
    # The claims file goes to both, for the paper's values on their figures, and is not a run.
    for command in (roughly_right, predictability):
        assert re.search(r"--claims \S*config/claims\.yaml", command), command


def test_no_command_of_the_workflow_writes_over_what_it_reads(paper_dry_run):
    """Every verb's check (mathformer.cli.refuse_overwrites) passes the workflow's own layout:
    sets inside results/, the report inside the results folder it reads, and so on."""
    checked = Counter()
    for verb in ("generate", "train", "evaluate", "analyse", "report"):
        for command in shell_commands(paper_dry_run, verb):
            args = cli.build_parser().parse_args(shlex.split(command.split(" > ")[0])[1:])
            cli.refuse_overwrites(verb, *args.paths(args))
            checked[verb] += 1
    assert sum(checked.values()) == sum(PAPER_JOBS.values()) - 1  # every job but `all`


def test_training_commands_carry_each_runs_settings(paper_dry_run):
    commands = {
        re.search(r"models/(\w+)", command).group(1): command
        for command in shell_commands(paper_dry_run, "train")
    }
    assert len(commands) == 10
    assert "--enc-dim 516 --dec-dim 512 --enc-heads 12" in commands["inv5"]
    assert "--weak-accuracy 0.7" in commands["eigvec5"] and "--n 6" in commands["eigvec6"]
    assert "--spectrum laplace" in commands["eigval_laplace"]
    # E4 models score every OOD set during training (learning curves per spectrum).
    assert commands["eigval_laplace"].count("--test ") == 7 and "--test " not in commands["eigvec5"]
    assert all("--device auto" in command for command in commands.values())


def test_a_row_with_several_seeds_trains_and_evaluates_one_model_per_seed(tmp_path):
    config = paper_config()
    laplace = next(row for row in config["runs"] if row["name"] == "eigval_laplace")
    laplace["seeds"] = [0, 1, 2]
    dry_run = snakemake(
        "-n",
        "-p",
        "--workflow-profile",
        "none",
        "--configfile",
        write_config(tmp_path / "seeds.yaml", config),
    ).stdout
    assert job_counts(dry_run)["train"] == PAPER_JOBS["train"] + 2
    assert job_counts(dry_run)["evaluate"] == PAPER_JOBS["evaluate"] + 2 * len(E4_SPECTRA)
    commands = shell_commands(dry_run, "train")
    for seed in (0, 1, 2):
        assert any(
            f"models/eigval_laplace_s{seed} " in command and f"--seed {seed} " in command
            for command in commands
        )


def test_a_run_initialised_from_another_trains_after_it_from_its_model(tmp_path):
    config = paper_config()
    inversion = next(row for row in config["runs"] if row["task"] == "inversion")
    config["runs"].append(
        {**inversion, "name": "inv6_from_inv5", "n": 6, "init_from": inversion["name"], "analyses": []}
    )
    dry_run = snakemake(
        "-n", "-p", "--workflow-profile", "none", "--configfile", write_config(tmp_path / "init.yaml", config)
    ).stdout
    commands = shell_commands(dry_run, "train")
    (command,) = [command for command in commands if "models/inv6_from_inv5 " in command]
    assert f"--init-from results/paper/models/{inversion['name']}/model.pt " in command
    # The source's model.pt is an input: Snakemake schedules the source's training first.
    assert re.search(rf"input: [^\n]*results/paper/models/{inversion['name']}/model.pt", dry_run)
    assert all("--init-from none " in other for other in commands if other != command)


def test_quick_config_runs_the_paper_dag_less_the_larger_matrices():
    dry_run = snakemake("-n", "--workflow-profile", CPU_PROFILE, "--configfile", "config/quick.yaml").stdout
    # E2's 6x6 model has no quick counterpart (config/quick.yaml says why): one validation set,
    # one test set, one training and one evaluation fewer. The tables and report of
    # results/quick/ are in git; they must not stand in for the models a fresh clone lacks.
    larger_matrices = Counter({"generate": 2, "train": 1, "evaluate": 1})
    assert job_counts(dry_run) == Counter(PAPER_JOBS) - larger_matrices


def test_cpu_profile_trains_and_evaluates_on_the_cpu():
    dry_run = snakemake(
        "-n", "-p", "--forceall", "--workflow-profile", CPU_PROFILE, "--directory", SMOKE
    ).stdout
    commands = shell_commands(dry_run, "train") + shell_commands(dry_run, "evaluate")
    assert commands and all("--device cpu" in command for command in commands)


# The one lint left on purpose: no rule names a conda environment (README "Install" says why:
# every rule runs the mathformer package of the environment the workflow runs in).
NO_CONDA_LINT = "Specify a conda environment or container for each rule."


def test_lint_has_no_findings_but_the_deliberate_one():
    result = snakemake("--lint", "--workflow-profile", "none", check=False)
    output = result.stdout + result.stderr
    findings = re.findall(r"^    \* (.+?):?$", output, flags=re.MULTILINE)
    assert findings, output  # the conda lint, once per rule
    assert set(findings) == {NO_CONDA_LINT}, output
    assert "Lints for snakefile" not in output, output


# ---- the config and its schema ----------------------------------------------------------------


def test_schema_documents_exactly_the_run_config_fields_with_its_defaults():
    schema = yaml.safe_load(SCHEMA.read_text())
    defaults = schema["properties"]["run_defaults"]["properties"]
    fields = {spec.name: spec for spec in dataclasses.fields(RunConfig)}
    assert set(defaults) == set(fields) - {"task"} | {"seeds"}  # seeds: a workflow key, one run per seed
    for name, prop in defaults.items():
        if name != "seeds":
            assert prop["default"] == fields[name].default, name
            assert prop.get("description"), name
    row = schema["$defs"]["run"]["properties"]
    assert set(row) == set(fields) | {"name", "experiment", "analyses", "seeds"}


def test_schema_enums_match_the_package():
    schema = yaml.safe_load(SCHEMA.read_text())
    defs, defaults = schema["$defs"], schema["properties"]["run_defaults"]["properties"]
    assert defs["spectrum"]["enum"] == list(SPECTRA)
    assert defs["encoding"]["enum"] == list(ENCODINGS)
    assert defs["run"]["properties"]["task"]["enum"] == list(TASKS)
    assert defaults["law"]["enum"] == list(LAWS)
    assert defaults["schedule"]["enum"] == list(SCHEDULES)
    assert defaults["precision"]["enum"] == list(PRECISIONS)


def paper_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


# The authors' sweeps (facebookresearch/LAWT sweeps/eigenvectors.json, invert.json and
# ev_generators.json, the E4 sweep), as RunConfig values.
LAWT_COMMON = {
    "n": 5, "coeff_range": 10.0, "input_encoding": "FP15", "output_encoding": "P1000", "enc_layers": 6,
    "dec_layers": 1, "dec_dim": 512, "dec_heads": 8, "norm": "post", "eigenvector_signs": "lapack",
    "batch_size": 64, "lr": 1e-4, "warmup": 10000, "clip": 5.0, "epoch_size": 300000,
    "max_examples": 100000 * 300000,
}  # fmt: skip
LAWT_COSINE = {"schedule": "cosine", "lr_min": 1e-5, "cosine_steps": 4_000_000}
LAWT_BY_TASK = {
    "eigenvectors": LAWT_COMMON
    | LAWT_COSINE
    | {"enc_dim": 512, "enc_heads": 8, "patience": 60, "law": "uniform"},
    "inversion": LAWT_COMMON
    | {"schedule": "constant", "enc_dim": 516, "enc_heads": 12, "patience": 60, "law": "uniform"},
    "eigenvalues": LAWT_COMMON
    | LAWT_COSINE
    | {"enc_dim": 512, "enc_heads": 8, "patience": 200, "law": "gaussian"},
}


def test_paper_config_uses_the_authors_settings_for_every_run():
    for name, run in Plan.from_config(paper_config()).runs.items():
        expected = LAWT_BY_TASK[run.settings.task] | ({"n": 6} if name == "eigvec6" else {})
        assert {key: getattr(run.settings, key) for key in expected} == expected, name


def break_first_eigenvalue_run(**changes) -> dict:
    config = paper_config()
    row = next(row for row in config["runs"] if row["task"] == "eigenvalues")
    row.update(changes)
    return config


@pytest.mark.parametrize(
    "config, message",
    [
        (
            break_first_eigenvalue_run(spectrum="wigner"),
            r"config error at runs\[\d+\]\.spectrum: 'wigner' is not one of \['semicircle', 'uniform'",
        ),
        (
            break_first_eigenvalue_run(enc_dims=64),
            r"config error at runs\[\d+\]: .*'enc_dims' was unexpected",
        ),
        (
            break_first_eigenvalue_run(enc_heads=7),
            r"run 'eigval_semicircle': enc_dim 512 is not divisible by enc_heads 7",
        ),
        (
            break_first_eigenvalue_run(analyses=["roughly_right"]),
            r"analysis 'roughly_right' does not apply to task 'eigenvalues'",
        ),
        ({**paper_config(), "sclae": "paper"}, r"config error at the top level: .*'sclae' was unexpected"),
        (
            break_first_eigenvalue_run(init_from="eigval_nowhere"),
            r"init_from 'eigval_nowhere' is not another run; runs: ",
        ),
        (
            {**paper_config(), "data": {**paper_config()["data"], "seed": -1}},
            r"config error at data\.seed: -1 is less than the minimum of 0",
        ),
    ],
    ids=[
        "bad-spectrum",
        "unknown-run-key",
        "bad-combination",
        "wrong-analysis",
        "unknown-top-key",
        "bad-init-from",
        "negative-data-seed",
    ],
)
def test_an_invalid_config_stops_the_run_with_a_clear_message(tmp_path, config, message):
    bad = write_config(tmp_path / "bad.yaml", config)
    result = snakemake("-n", "--workflow-profile", "none", "--configfile", bad, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert re.search(message, output), output
    # The reason and where it was found, not Snakemake's dump of the schema and the config.
    assert len(output.splitlines()) <= 6, output


# ---- a real run (slow) -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """This working tree, copied under a path holding a space and a shell metacharacter: every
    path in every rule must be quoted for the smoke run below to succeed there."""
    return copy_working_tree(tmp_path_factory.mktemp("checkout") / "mathformer checkout & co")


def smoke_in(checkout: Path, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess:
    return snakemake(
        "--workflow-profile",
        checkout / "profiles" / "cpu",
        "--directory",
        checkout / "tests" / "smoke",
        *args,
        directory=checkout,
        check=check,
    )


@pytest.fixture(scope="module")
def smoke_run(checkout) -> subprocess.CompletedProcess:
    """The smoke config run end to end from a clean state (about a minute on 2 cores)."""
    return smoke_in(checkout)


@pytest.mark.slow
def test_smoke_config_runs_end_to_end_into_its_own_directory(checkout, smoke_run):
    smoke = checkout / "tests" / "smoke"
    results = smoke / "results" / "smoke"
    assert (results / "report" / "report.html").stat().st_size > 0
    assert (results / "models" / "eigvec" / "weak.pt").is_file()
    assert (results / "tables" / "ood_accuracy.csv").is_file()
    assert (results / "figures" / "roc_curves.png").is_file()
    assert list((smoke / "benchmarks" / "smoke" / "train").glob("*.tsv"))
    assert not (checkout / "results" / "smoke").exists()
    # A row with two seeds is two models, and the training analysis sets them side by side.
    assert (results / "models" / "eigval_semicircle_s0" / "model.pt").is_file()
    assert (results / "models" / "eigval_semicircle_s1" / "model.pt").is_file()
    spread = pd.read_csv(results / "tables" / "seed_spread.csv")
    assert list(spread["group"]) == ["eigval_semicircle"] and spread["seeds"].tolist() == [2]
    # The committed report carries no machine path.
    for notebook in (results / "report").glob("*.ipynb"):
        assert str(checkout) not in notebook.read_text(), notebook.name
    assert str(checkout) not in (results / "report" / "report.html").read_text()


@pytest.mark.slow
def test_a_second_run_has_nothing_to_do(checkout, smoke_run):
    result = smoke_in(checkout, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.slow
def test_changing_one_run_retrains_exactly_that_chain(checkout, smoke_run, tmp_path):
    smoke = checkout / "tests" / "smoke"
    config = yaml.safe_load((smoke / "config" / "config.yaml").read_text())
    next(row for row in config["runs"] if row["name"] == "eigval_laplace")["seed"] = 1
    changed = write_config(tmp_path / "changed.yaml", config)
    dry_run = smoke_in(checkout, "-n", "-p", "--configfile", changed).stdout
    spectra = len(config["ood"]["test_spectra"])
    assert job_counts(dry_run) == Counter(
        {
            "train": 1,
            "evaluate": spectra,
            "analyse_ood": 1,
            "analyse_training": 1,
            "render_report": 1,
            "all": 1,
        }
    )
    assert all("models/eigval_laplace" in command for command in shell_commands(dry_run, "train"))
    assert all("models/eigval_laplace/" in command for command in shell_commands(dry_run, "evaluate"))
    models = smoke / "results" / "smoke" / "models"
    before = {run.name: (run / "model.pt").read_bytes() for run in models.iterdir()}
    smoke_in(checkout, "--configfile", changed)  # for real: the retrain must succeed
    after = {run.name: (run / "model.pt").read_bytes() for run in models.iterdir()}
    assert [name for name in before if before[name] != after[name]] == ["eigval_laplace"]
    assert yaml.safe_load((models / "eigval_laplace" / "config.yaml").read_text())["seed"] == 1
    assert "discarded" not in (smoke / "logs" / "smoke" / "train" / "eigval_laplace.log").read_text()
    smoke_in(checkout)  # back to the committed config: retrains that run again, seed 0


@pytest.mark.slow
def test_forcing_a_model_trains_it_afresh_to_the_same_bytes(checkout, smoke_run):
    smoke = checkout / "tests" / "smoke"
    model = smoke / "results" / "smoke" / "models" / "inv" / "model.pt"
    log = smoke / "logs" / "smoke" / "train" / "inv.log"
    previous = model.read_bytes()
    stamp = log.stat().st_mtime_ns
    smoke_in(checkout, "-f", model.relative_to(smoke))
    assert log.stat().st_mtime_ns > stamp
    text = log.read_text()
    assert "resumed" not in text and "stopped (max_examples) after 384 examples" in text
    assert model.read_bytes() == previous  # same config and seed: the same bytes
    smoke_in(checkout)  # what follows the model (its log's new timings) is brought up to date


def kill_session(leader: subprocess.Popen) -> None:
    """SIGKILL every process of `leader`'s session, as a lost login session or a power cut would:
    Snakemake and the jobs it started, with no chance to clean up."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, session = int(stat.parent.name), int(stat.read_text().rsplit(")", 1)[1].split()[3])
        except (OSError, ValueError, IndexError):
            continue  # a process that ended meanwhile
        if session == leader.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    leader.wait()


@pytest.mark.slow
def test_a_killed_snakemake_is_unlocked_and_its_training_resumes(checkout, smoke_run, tmp_path):
    # README: after a kill, `snakemake --unlock`, then the profile's rerun-incomplete reruns the
    # training Snakemake left incomplete, and it resumes from its ckpt/ state.
    smoke = checkout / "tests" / "smoke"
    config = yaml.safe_load((smoke / "config" / "config.yaml").read_text())
    run = next(row for row in config["runs"] if row["name"] == "inv")
    run |= {"max_examples": 20480, "epoch_size": 2048, "checkpoint_minutes": 0.002}
    longer = write_config(tmp_path / "longer.yaml", config)
    state = smoke / "results" / "smoke" / "models" / "inv" / "ckpt" / "state.pt"
    command = [sys.executable, "-m", "snakemake", "--workflow-profile", checkout / "profiles" / "cpu"]
    command += ["--directory", smoke, "--configfile", longer, "--until", "train"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    leader = subprocess.Popen(
        command,
        cwd=checkout,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not state.exists() and leader.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state.exists(), "the training saved no resumable state before it ended"
    finally:
        kill_session(leader)
    locked = smoke_in(checkout, "--configfile", longer, "--until", "train", check=False)
    assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr, (
        locked.stdout + locked.stderr
    )
    smoke_in(checkout, "--unlock", "--configfile", longer)
    smoke_in(checkout, "--configfile", longer, "--until", "train")
    log = (smoke / "logs" / "smoke" / "train" / "inv.log").read_text()
    assert "resumed from" in log and "stopped (max_examples) after 20480 examples" in log, log
    assert not state.exists()  # a finished run keeps no state
    smoke_in(checkout)  # back to the committed config


@pytest.mark.slow
def test_changing_an_operational_setting_retrains_nothing(checkout, smoke_run, tmp_path):
    config = yaml.safe_load((checkout / "tests" / "smoke" / "config" / "config.yaml").read_text())
    config["run_defaults"]["checkpoint_minutes"] = 7.5
    changed = write_config(tmp_path / "operational.yaml", config)
    result = smoke_in(checkout, "-n", "--configfile", changed)
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.slow
def test_snakemake_report_collects_the_tables_and_figures(checkout, smoke_run):
    smoke = checkout / "tests" / "smoke"
    report = smoke / "results" / "smoke" / "snakemake_report.zip"
    smoke_in(checkout, "--report", report.relative_to(smoke))
    with zipfile.ZipFile(report) as archive:
        names = {Path(name).name for name in archive.namelist()}
    assert {
        "ood_heatmap.png",
        "roc_curves.png",
        "roughly_right.csv",
        "ood_accuracy.csv",
        "report.html",
    } <= names


def expected_schema_property(spec: dataclasses.Field, hint) -> dict:
    """What config.schema.yaml must say of one RunConfig field: its type, bounds and choices."""
    import types
    import typing

    optional = typing.get_origin(hint) in (typing.Union, types.UnionType)
    base = next(arg for arg in typing.get_args(hint) if arg is not type(None)) if optional else hint
    kind = {int: "integer", float: "number", str: "string", bool: "boolean"}[base]
    expected: dict = {"type": [kind, "null"] if optional else kind, "default": spec.default}
    meta = spec.metadata
    if meta["choices"]:
        expected["enum"] = list(meta["choices"])
    for key, schema_key in (("at_least", "minimum"), ("above", "exclusiveMinimum"), ("at_most", "maximum")):
        if meta[key] is not None:
            expected[schema_key] = meta[key]
    return expected


def resolved(prop: dict, schema: dict) -> dict:
    """A schema property with its $ref (to a shared definition) folded in."""
    if "$ref" not in prop:
        return prop
    target = schema
    for part in prop["$ref"].lstrip("#/").split("/"):
        target = target[part]
    return {**target, **{key: value for key, value in prop.items() if key != "$ref"}}


def test_schema_run_defaults_state_each_fields_type_bounds_and_choices_as_run_config_does():
    import typing

    schema = yaml.safe_load(SCHEMA.read_text())
    properties = schema["properties"]["run_defaults"]["properties"]
    hints = typing.get_type_hints(RunConfig)
    for spec in dataclasses.fields(RunConfig):
        if spec.name == "task":
            continue
        prop = resolved(properties[spec.name], schema)
        expected = expected_schema_property(spec, hints[spec.name])
        found = {key: prop.get(key) for key in expected}
        assert found == expected, spec.name
