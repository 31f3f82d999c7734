"""One experiment of the gpu scale (config/gpu.yaml) on a lent GPU machine, through the workflow's own commands.

The lent machine has torch and CUDA but no Snakemake, keeps nothing between sessions, and sends
back at most 8 files of 16 MiB (64 MiB in all): a paper model's weights cannot come back. So an
experiment goes in three steps:

  plan      here, with Snakemake: the jobs of the selected runs, exactly as the rules would run
            them (`snakemake -n -p` over config/gpu.yaml restricted to those runs, with
            profiles/default), in an order that respects their inputs, as JSON.
  run       on the GPU machine: runs the plan's commands (generate, train, evaluate, analyse) and
            writes to OUT as it goes: its log, a summary (GPU, timings, accuracies) and the
            results as a tar.gz in parts of at most 15 MiB -- models/ less the weights, eval/ with
            the predictions reduced to the columns the analyses read, the jobs' logs, the tables.
  assemble  here: unpacks the parts into results/<scale>/ and runs the workflow's analysis and
            report rules (only those) over every run whose results are there.

A run that `init_from` names is trained first (the plan includes it) but not shipped: only the
selected runs are. `--small` plans the same runs with tiny models and sets (scale gpu_small), so
a CPU runs an experiment in seconds (tests/test_gpu_scale.py). The script imports the package, and
the jobs call its `mathformer` command: on the GPU machine install it first, `python3 -m pip
install --no-deps --no-index --no-build-isolation -e .` (seconds, nothing downloaded);
docs/gpu-recipes.md has the whole command of a GPU session.

    python benchmarks/gpu_scale.py plan E1 [--small] [-o gpu-plan.json]
    python benchmarks/gpu_scale.py run gpu-plan.json --out OUT [--device cpu] [--deadline-s 550]
    python benchmarks/gpu_scale.py assemble OUT [OUT ...] [--small]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from mathformer.analysis.predictability import columns_read
from mathformer.formats import run_folder
from mathformer.formats.atomic import atomic_path
from mathformer.formats.predictions import LIST_COLUMNS, read_metadata, write_predictions

ROOT = Path(__file__).resolve().parents[1]
GPU_CONFIG = ROOT / "config" / "gpu.yaml"
EXPERIMENTS = ("E1", "E2", "E3", "E4")
# Snakemake target rules: everything an experiment makes but the report (papermill is not there).
TARGETS = ("models", "evaluation", "tables", "figures")
DEVICE_CORES = 16  # the lent H200 machine's: the rules' threads are capped at the cores
# --small: the same runs, analyses and levers (sizes, n_min, init_from, encodings, signs), with tiny
# models, budgets and sets: three epochs, so there is a weak snapshot to pick.
SMALL_SCALE = "gpu_small"
SMALL_DATA = {"valid_size": 16, "test_size": 128, "ood_size": 16}
SMALL_RUN = {
    "enc_layers": 1, "dec_layers": 1, "enc_dim": 32, "dec_dim": 32, "enc_heads": 2, "dec_heads": 2,
    "batch_size": 16, "warmup": 2, "epoch_size": 32, "max_examples": 96, "checkpoint_minutes": 1.0,
}  # fmt: skip
# What comes back from the GPU machine: 8 files of 16 MiB at most, 64 MiB in all.
LOG_NAME = "gpu_scale.log"
SUMMARY_NAME = "summary.json"
ARCHIVE_NAME = "results.tar.gz"
PART_BYTES = 15 * 2**20
MAX_PARTS = 4
# The analyses, cheapest first: predictability bootstraps its AUC intervals (minutes at 50,000
# matrices), so a run cut at its deadline has lost the least.
ANALYSIS_RULES = ("analyse_training", "analyse_ood", "analyse_roughly_right", "analyse_predictability")
STAGES = ("generate", "train_keeping_weak", "train", "evaluate", *ANALYSIS_RULES)


# ---------------------------------------------------------------- the config of a selection


def gpu_config(small: bool) -> dict:
    """config/gpu.yaml, or its --small variant: the same runs with tiny models and sets."""
    config = yaml.safe_load(GPU_CONFIG.read_text())
    if not small:
        return config
    config = copy.deepcopy(config)
    config["scale"] = SMALL_SCALE
    config["data"] |= SMALL_DATA
    config["run_defaults"] |= SMALL_RUN
    for row in config["runs"]:
        for key in SMALL_RUN:
            row.pop(key, None)
    return config


def select_runs(config: dict, selection: list[str]) -> tuple[dict, list[str]]:
    """The config restricted to the selected runs (experiment labels E1..E4 or run names) and the
    runs they start from (`init_from`, trained but not analysed); also the names of those sources."""
    rows = {row["name"]: row for row in config["runs"]}
    chosen = []
    for word in selection:
        matches = [name for name, row in rows.items() if row.get("experiment", "").split(" ")[0] == word]
        if word in rows:
            matches = [word]
        if not matches:
            allowed = ", ".join([*EXPERIMENTS, *rows])
            raise ValueError(
                f"{word!r} is neither an experiment nor a run of {GPU_CONFIG.name}; allowed: {allowed}"
            )
        chosen += [name for name in matches if name not in chosen]
    sources: list[str] = []
    pending = list(chosen)
    while pending:  # the sources of sources too
        source = rows[pending.pop()].get("init_from")
        if source is not None and source not in chosen + sources:
            sources.append(source)
            pending.append(source)
    runs = [row for row in config["runs"] if row["name"] in chosen]
    runs += [{**row, "analyses": []} for row in config["runs"] if row["name"] in sources]
    return {**config, "runs": runs}, sources


# ---------------------------------------------------------------- plan (here, with Snakemake)

_RULE = re.compile(r"^ *(?:local)?rule (\w+):$", re.MULTILINE)  # indented in a group job
_SHELL = re.compile(r"^Shell command: (.*)$", re.MULTILINE)


def _field(block: str, key: str) -> list[str]:
    found = re.search(rf"^ +{key}: (.*)$", block, re.MULTILINE)
    return found.group(1).split(", ") if found else []


def parse_dry_run(output: str) -> list[dict]:
    """The jobs of `snakemake -n -p` output that run a command: rule, wildcards, inputs, outputs, logs, command."""
    jobs = []
    headers = list(_RULE.finditer(output))
    for header, following in zip(headers, [*headers[1:], None]):
        block = output[header.end() : following.start() if following else len(output)]
        command = _SHELL.search(block)
        if command is None or command.group(1) == "None":  # a target rule: it only gathers files
            continue
        wildcards = dict(item.split("=", 1) for item in _field(block, "wildcards"))
        jobs.append(
            {
                "rule": header.group(1),
                "wildcards": wildcards,
                "inputs": _field(block, "input"),
                "outputs": _field(block, "output"),
                "logs": _field(block, "log"),
                "command": command.group(1).strip(),
            }
        )
    return jobs


def in_order(jobs: list[dict]) -> list[dict]:
    """The jobs with each after those making its inputs (a dry run prints them in no such order)."""
    maker = {output: index for index, job in enumerate(jobs) for output in job["outputs"]}
    needs = [{maker[path] for path in job["inputs"] if path in maker} for job in jobs]
    done: list[int] = []
    while len(done) < len(jobs):
        ready = [i for i in range(len(jobs)) if i not in done and needs[i] <= set(done)]
        if not ready:
            raise ValueError("the dry run's jobs depend on each other in a circle")
        done.append(min(ready, key=lambda i: (STAGES.index(jobs[i]["rule"]), jobs[i]["outputs"])))
    return [jobs[i] for i in done]


def plan(selection: list[str], small: bool) -> dict:
    """The plan of the selected runs: their jobs as the workflow would run them, on the GPU machine."""
    config, sources = select_runs(gpu_config(small), selection)
    with tempfile.TemporaryDirectory() as folder:
        configfile = Path(folder) / "selection.yaml"
        configfile.write_text(yaml.safe_dump(config, sort_keys=False))
        command = [sys.executable, "-m", "snakemake", *TARGETS, "--dry-run", "--printshellcmds", "--forceall"]
        command += ["--cores", f"{DEVICE_CORES}", "--workflow-profile", "profiles/gpu"]
        command += ["--configfile", configfile]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"snakemake dry run failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    jobs = in_order(parse_dry_run(result.stdout))
    for job in jobs:
        # The claims file and notebooks are named by absolute paths: make them the checkout's.
        job["command"] = job["command"].replace(f"{ROOT}{os.sep}", "")
        job["ship"] = job["wildcards"].get("run") not in sources
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    return {
        "scale": config["scale"],
        "selection": selection,
        "sources": sources,
        "commit": commit.strip() or None,
        "config": config,
        "jobs": jobs,
    }


# ---------------------------------------------------------------- run (on the GPU machine)


def reduced_predictions(path: Path, copy_path: Path) -> Path:
    """A copy of a predictions table without the list columns the analyses do not read."""
    metadata = read_metadata(path)
    _, lists = columns_read(metadata["task"])  # the list columns the failure analyses read
    dropped = [name for name in LIST_COLUMNS if name not in lists]
    write_predictions(pq.read_table(path).drop_columns(dropped), metadata, copy_path)
    return copy_path


def shipped_files(jobs: list[dict]) -> list[Path]:
    """What comes back: the outputs and logs of the shipped jobs, less weights and datasets."""
    paths = {Path(path) for job in jobs if job["ship"] for path in job["outputs"] + job["logs"]}
    return sorted(path for path in paths if path.suffix not in (".pt", ".npz") and path.is_file())


def pack(plan: dict, plan_path: Path, out: Path) -> list[Path]:
    """Write the shipped files and the plan into OUT as ARCHIVE.00, .01, ... (15 MiB each)."""
    with tempfile.TemporaryDirectory() as folder:
        archive = Path(folder) / ARCHIVE_NAME
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(plan_path, arcname=f"logs/{plan['scale']}/gpu_scale/{plan_path.name}")
            for index, path in enumerate(shipped_files(plan["jobs"])):
                if path.suffix == ".parquet":
                    tar.add(
                        reduced_predictions(path, Path(folder) / f"{index}.parquet"), arcname=path.as_posix()
                    )
                else:
                    tar.add(path, arcname=path.as_posix())
        size = archive.stat().st_size
        if size > MAX_PARTS * PART_BYTES:
            raise RuntimeError(f"the results are {size / 2**20:.1f} MiB, over {MAX_PARTS} parts of 15 MiB")
        for stale in out.glob(f"{ARCHIVE_NAME}.*"):
            stale.unlink()
        parts = []
        with archive.open("rb") as whole:
            while chunk := whole.read(PART_BYTES):
                part = out / f"{ARCHIVE_NAME}.{len(parts):02d}"
                with atomic_path(part) as tmp:
                    tmp.write_bytes(chunk)
                parts.append(part)
    return parts


class Session:
    """One `run`: the log and summary it keeps in OUT, and the deadline it stops at."""

    def __init__(self, plan_path: Path, out: Path, deadline_s: float | None):
        self.plan_path, self.out, self.deadline_s = plan_path, out, deadline_s
        self.plan = json.loads(plan_path.read_text())
        self.start = time.monotonic()
        self.summary: dict = {"selection": self.plan["selection"], "commit": self.plan["commit"], "jobs": []}
        out.mkdir(parents=True, exist_ok=True)
        self.log_file = (out / LOG_NAME).open("a", encoding="utf-8")

    def say(self, line: str) -> None:
        stamped = f"[{self.elapsed():7.1f} s] {line}"
        print(stamped, flush=True)
        self.log_file.write(stamped + "\n")
        self.log_file.flush()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def save(self, status: str) -> None:
        """The summary and the results so far, into OUT."""
        self.summary |= {"status": status, "wall_seconds": round(self.elapsed(), 1)}
        self.summary["parts"] = [part.name for part in pack(self.plan, self.plan_path, self.out)]
        with atomic_path(self.out / SUMMARY_NAME) as tmp:
            tmp.write_text(json.dumps(self.summary, indent=2) + "\n")

    def past_deadline(self) -> bool:
        return self.deadline_s is not None and self.elapsed() > self.deadline_s


def _job_result(job: dict) -> dict:
    """What a finished job tells the summary: a training's last epoch, an evaluation's accuracies."""
    found = {}
    for path in map(Path, job["outputs"]):
        if path.name == run_folder.TRAIN_LOG and path.is_file():
            header, *rows = path.read_text().splitlines()
            if rows:
                found["last_epoch"] = dict(zip(header.split(","), rows[-1].split(",")))
        if path.suffix == ".json" and job["rule"] == "evaluate" and path.is_file():
            found["accuracy"] = json.loads(path.read_text())["accuracy"]
    return found


def run_job(session: Session, job: dict, env: dict[str, str], save_every_s: float) -> int:
    """Run one job's command; save the results every `save_every_s` while it runs (a training's
    log grows), and stop it at the deadline (SIGTERM: a training saves its state and exits 75)."""
    for path in job["outputs"] + job["logs"]:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    process = subprocess.Popen(
        ["bash", "-c", f"set -euo pipefail; {job['command']}"], env=env, start_new_session=True
    )
    last_save = time.monotonic()
    while True:
        try:
            process.wait(timeout=1)
            break
        except subprocess.TimeoutExpired:
            pass
        if session.past_deadline():
            session.say(f"deadline ({session.deadline_s:g} s): stopping {job['rule']}")
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            break
        if time.monotonic() - last_save > save_every_s:
            session.save(f"running {job['rule']}")
            last_save = time.monotonic()
    seconds = round(time.monotonic() - started, 1)
    session.summary["jobs"].append(
        {
            "rule": job["rule"],
            **job["wildcards"],
            "seconds": seconds,
            "rc": process.wait(),
            **_job_result(job),
        }
    )
    return process.returncode


def _gpu() -> dict:
    import torch

    if not torch.cuda.is_available():
        return {"gpu": None, "torch": torch.__version__}
    return {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda}


def run(plan_path: Path, out: Path, device: str, deadline_s: float | None, save_every_s: float) -> int:
    """Run a plan's jobs in the checkout, saving into OUT as it goes; 0 when every job succeeded."""
    os.chdir(ROOT)
    session = Session(plan_path, out, deadline_s)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # the jobs' `--device auto` then finds no GPU
    session.summary |= _gpu() if device != "cpu" else {"gpu": None}
    session.say(
        f"plan {plan_path.name}: {', '.join(session.plan['selection'])}, {len(session.plan['jobs'])} jobs"
    )
    for job in session.plan["jobs"]:
        session.say(f"{job['rule']} {' '.join(f'{k}={v}' for k, v in job['wildcards'].items())}")
        rc = run_job(session, job, env, save_every_s)
        if rc != 0 or session.past_deadline():
            for log in job["logs"]:
                if Path(log).is_file():
                    session.say(f"{log} ends:\n" + "\n".join(Path(log).read_text().splitlines()[-20:]))
            status = "stopped at the deadline" if session.past_deadline() else f"{job['rule']} failed ({rc})"
            session.say(status)
            session.save(status)
            return 1
        session.say(f"  done in {session.summary['jobs'][-1]['seconds']} s")
    session.save("done")
    session.say(f"done: {', '.join(session.summary['parts'])} in {out}")
    return 0


# ---------------------------------------------------------------- assemble (here, with Snakemake)


def unpack(out: Path, scale: str) -> list[str]:
    """Extract what a run shipped, models/ eval/ and logs/ of `scale` only (the tables are redone)."""
    parts = sorted(out.glob(f"{ARCHIVE_NAME}.*"))
    if not parts:
        raise ValueError(f"{out} holds no {ARCHIVE_NAME}.NN parts")
    wanted = (f"results/{scale}/models/", f"results/{scale}/eval/", f"logs/{scale}/")
    with tempfile.TemporaryDirectory() as folder:
        archive = Path(folder) / ARCHIVE_NAME
        with archive.open("wb") as whole:
            for part in parts:
                whole.write(part.read_bytes())
        with tarfile.open(archive) as tar:
            members = [member for member in tar.getmembers() if member.name.startswith(wanted)]
            tar.extractall(ROOT, members=members, filter="data")
    return [member.name for member in members]


def present_runs(config: dict) -> dict:
    """The config restricted to the runs whose results are here: a training log, and evaluations
    for a run that feeds an analysis."""
    results = ROOT / "results" / config["scale"]
    runs = []
    for row in config["runs"]:
        trained = (results / "models" / row["name"] / run_folder.TRAIN_LOG).is_file()
        evaluated = not row.get("analyses") or any((results / "eval" / row["name"]).glob("*/*.json"))
        if trained and evaluated:
            runs.append(row)
    names = [row["name"] for row in runs]
    for row in runs:
        if row.get("init_from") not in (None, *names):
            raise ValueError(f"run {row['name']} starts from {row['init_from']}, whose results are not here")
    if not runs:
        raise ValueError(f"no run of scale {config['scale']} has results under {results}")
    return {**config, "runs": runs}


def assemble(outs: list[Path], small: bool) -> Path:
    """Unpack each OUT's results and redo the analyses and the report over every run that is here."""
    config = gpu_config(small)
    for out in outs:
        print(f"{out}: {len(unpack(out, config['scale']))} files")
    present = present_runs(config)
    print(f"runs with results: {', '.join(row['name'] for row in present['runs'])}")
    report = f"results/{config['scale']}/report/report.html"
    rules = [*ANALYSIS_RULES, "render_report"]
    with tempfile.TemporaryDirectory() as folder:
        configfile = Path(folder) / "present.yaml"
        configfile.write_text(yaml.safe_dump(present, sort_keys=False))
        command = [sys.executable, "-m", "snakemake", report, "--configfile", configfile]
        command += ["--workflow-profile", "profiles/cpu", "--allowed-rules", *rules, "--forcerun", *rules]
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        subprocess.run(command, cwd=ROOT, env=env, check=True)
    return ROOT / report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    planner = verbs.add_parser("plan", help="the jobs of some runs, from a Snakemake dry run (here)")
    planner.add_argument("selection", nargs="+", help="experiments (E1, E2, E3, E4) or run names")
    planner.add_argument("--small", action="store_true", help="tiny models and sets (scale gpu_small)")
    planner.add_argument("-o", "--out", type=Path, default=Path("gpu-plan.json"))
    runner = verbs.add_parser("run", help="run a plan's jobs, writing results into OUT (GPU machine)")
    runner.add_argument("plan", type=Path)
    runner.add_argument("--out", type=Path, required=True)
    runner.add_argument("--device", choices=("auto", "cpu"), default="auto")
    runner.add_argument("--deadline-s", type=float, help="stop the job running at this many seconds")
    runner.add_argument("--save-every-s", type=float, default=60.0, help="save results while a job runs")
    assembler = verbs.add_parser("assemble", help="unpack results and redo analyses and report (here)")
    assembler.add_argument("outs", nargs="+", type=Path)
    assembler.add_argument("--small", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.verb == "plan":
            with atomic_path(args.out) as tmp:
                tmp.write_text(json.dumps(plan(args.selection, args.small), indent=1) + "\n")
            print(f"wrote {args.out}")
            return 0
        if args.verb == "run":
            return run(
                args.plan.resolve(),
                args.out.resolve(),
                args.device,
                args.deadline_s,
                args.save_every_s,
            )
        print(f"wrote {assemble([out.resolve() for out in args.outs], args.small)}")
        return 0
    except (ValueError, RuntimeError) as err:
        print(f"gpu_scale: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
