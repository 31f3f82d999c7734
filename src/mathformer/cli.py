"""The `mathformer` command: one verb per stage of the workflow.

    mathformer generate --task T [--spectrum S --n N --law L --coeff-range A] --size K --seed SEED -o FILE
    mathformer train RUN_DIR --valid FILE [--test NAME=FILE ...] [--config YAML] [--<run option> VALUE ...]
    mathformer evaluate --model MODEL.pt --data FILE -o PRED.parquet --summary S.json [--beam N]
    mathformer analyse roughly-right|predictability --run NAME=PRED.parquet [...] --out DIR [--claims FILE]
    mathformer analyse ood --summary TRAIN/TEST=S.json [...] --log TRAIN=train_log.csv [...] --out DIR
    mathformer report --notebook-dir DIR --results DIR --claims FILE --out DIR [--scale NAME]

Bad input ends the command with status 1 and one line `mathformer: error: ...` (usage errors:
status 2, one line too); a training run stopped by SIGTERM/SIGUSR1 ends with status 75 after
saving its state. Running out ends the same way: a full disk (or quota) names the file being
written, a lack of memory names the verb and what it could not allocate; writes are atomic, so
nothing is left half-written. Heavy modules are imported inside the verb that needs them, so
`--help` and the analysis verbs start without loading torch.

A verb never writes over what it reads. Each verb names the paths it reads and the paths it
writes, and before anything is written the command stops (status 1, one line naming both) when
a path written is a path read (the same file by any name: `./x` and `x`, symlinks, hard
links), lies inside one (a folder read), or holds one. What a verb writes is its files where
their names are known, so inputs may sit beside them: train writes the run's files in RUN_DIR
(model.pt, weak.pt, train_log.csv, config.yaml, env.json, ckpt/state.pt, .train.lock), so a
validation set may live in RUN_DIR but not under one of those names (nor may --config be
RUN_DIR/config.yaml: copy it); an analysis writes its tables and figures (and `training` its
train_logs/) under --out, which may hold the predictions it reads; report writes the whole
--out folder and reads its notebook folder and the tables/ and figures/ of --results, so the
report folder may lie inside the results folder (results/<scale>/report) but not hold it.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import itertools
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from mathformer import __version__
from mathformer.analysis import catalogue
from mathformer.core.config import RunConfig, add_run_options, read_config_file, run_options_given
from mathformer.core.problems import EIGENVECTOR_SIGNS, LAWS, SPECTRA, TASKS, Problem
from mathformer.formats import results_layout, run_folder

PROG = "mathformer"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (sub-commands inherit the class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _Stopped(Exception):
    """A verb ends with its own exit status (a training run interrupted, or diverged)."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


def _say(verb: str, text: str) -> None:
    print(f"{PROG} {verb}: {text}", file=sys.stderr, flush=True)


def _named_paths(values: Sequence[str] | None, flag: str) -> dict[str, Path]:
    """['laplace=a.npz', ...] -> {'laplace': Path('a.npz')}; names must be unique and non-empty."""
    named: dict[str, Path] = {}
    for value in values or []:
        name, separator, path = value.partition("=")
        if not separator or not name or not path:
            raise ValueError(f"{flag} expects NAME=FILE, got {value!r}")
        if name in named:
            raise ValueError(f"{flag} names {name!r} twice")
        named[name] = Path(path)
    return named


def _train_test_pairs(values: Sequence[str] | None, flag: str) -> dict[tuple[str, str], Path]:
    """['laplace/semicircle=s.json', ...] -> {('laplace', 'semicircle'): Path('s.json')}."""
    pairs: dict[tuple[str, str], Path] = {}
    for key, path in _named_paths(values, flag).items():
        train_name, separator, test_name = key.partition("/")
        if not separator or not train_name or not test_name:
            raise ValueError(f"{flag} expects TRAIN/TEST=FILE, got {key}={path}")
        pairs[(train_name, test_name)] = path
    return pairs


# ---- what each verb reads and writes ------------------------------------------------------------

# (label for the message, path): what a verb reads, and what it writes.
Labelled = list[tuple[str, Path]]


def _same_file(first: Path, second: Path) -> bool:
    """One file by any name: `./x` and `x`, a symlink and its target, two hard links."""
    if first.resolve() == second.resolve():
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist yet: not one file
        return False


def _clash(written: Path, read: Path) -> str | None:
    """How writing `written` would touch `read`, or None when it cannot."""
    if _same_file(written, read):
        return "is the same file as"
    if read.resolve() in written.resolve().parents:
        return "lies inside"
    if written.resolve() in read.resolve().parents:
        return "holds"
    return None


def refuse_overwrites(verb: str, reads: Labelled, writes: Labelled) -> None:
    """Stop a verb, before it writes anything, when a path it writes is, lies inside or holds a
    path it reads, or two of its outputs are one file."""
    for (written_as, written), (read_as, read) in itertools.product(writes, reads):
        relation = _clash(written, read)
        if relation is not None:
            raise ValueError(
                f"{written_as} {written} {relation} {read_as} {read}, which {verb} reads; "
                "a verb never writes over its inputs: write elsewhere"
            )
    for (first_as, first), (second_as, second) in itertools.combinations(writes, 2):
        if _same_file(first, second):
            raise ValueError(f"{first_as} {first} and {second_as} {second} would both be written to one file")


# ---- generate ---------------------------------------------------------------------------------


def _add_generate(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("generate", help="write a fixed set of problems (.npz)")
    parser.add_argument("--task", required=True, choices=TASKS, help="what the targets are")
    # The defaults are Problem's, so the library and the command cannot drift apart.
    default = {spec.name: spec.default for spec in dataclasses.fields(Problem) if spec.name != "task"}
    parser.add_argument(
        "--spectrum",
        default=default["spectrum"],
        choices=SPECTRA,
        help="eigenvalue law (default %(default)s)",
    )
    parser.add_argument("--n", type=int, default=default["n"], help="matrix size (default %(default)s)")
    parser.add_argument(
        "--law", default=default["law"], choices=LAWS, help="coefficient law (default %(default)s)"
    )
    parser.add_argument(
        "--coeff-range",
        type=float,
        default=default["coeff_range"],
        help="coefficient range A (default %(default)s)",
    )
    parser.add_argument(
        "--signs",
        default=default["signs"],
        choices=EIGENVECTOR_SIGNS,
        help="signs of eigenvector targets (default %(default)s)",
    )
    parser.add_argument("--size", type=int, required=True, help="number of problems")
    parser.add_argument(
        "--seed", type=int, required=True, help="seed of the draw: the same seed gives the same bytes"
    )
    parser.add_argument("-o", "--out", type=Path, required=True, help="output .npz file")
    parser.set_defaults(handler=_generate, paths=lambda args: ([], [("-o", args.out)]))


def _generate(args: argparse.Namespace) -> None:
    from mathformer.formats.datasets import generate_dataset, save_dataset

    problem = Problem(
        args.task,
        n=args.n,
        spectrum=args.spectrum,
        law=args.law,
        coeff_range=args.coeff_range,
        signs=args.signs,
    )
    _say(
        "generate",
        f"{args.size} {problem.task} problems, n={problem.n}, spectrum {problem.spectrum}, "
        f"{problem.law} coefficients in +-{problem.coeff_range:g}, seed {args.seed}",
    )
    save_dataset(generate_dataset(problem, args.size, args.seed), args.out)
    _say("generate", f"wrote {args.out}")


# ---- train ------------------------------------------------------------------------------------


def _add_train(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser(
        "train",
        help="train (or resume) a model in RUN_DIR",
        description="Train a model; rerunning the same command resumes from RUN_DIR/ckpt/state.pt.",
    )
    parser.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="the run's folder (model.pt, train_log.csv, ckpt/)"
    )
    parser.add_argument("--valid", type=Path, required=True, help="validation set (.npz)")
    parser.add_argument("--test", action="append", metavar="NAME=FILE", help="extra set evaluated each epoch")
    parser.add_argument("--config", type=Path, help="YAML of run options; flags given here override it")
    parser.add_argument("--train-data", type=Path, help="draw training batches from this fixed set")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument(
        "--workers", type=int, help="data-generating processes (default: 4 on CUDA, 0 on CPU)"
    )
    parser.add_argument(
        "--eval-batch-size",
        type=int,
        help="matrices decoded together at each evaluation (default: 256 on CPU, 10,000 on CUDA)",
    )
    add_run_options(parser)
    parser.set_defaults(handler=_train, paths=_train_paths)


def _run_config(args: argparse.Namespace) -> RunConfig:
    values = read_config_file(args.config) if args.config else {}
    return RunConfig.from_dict({**values, **run_options_given(args)})


# The files a training writes in RUN_DIR (their atomic temporaries have fresh names).
RUN_FILES = (
    run_folder.MODEL,
    run_folder.WEAK,
    run_folder.TRAIN_LOG,
    run_folder.CONFIG,
    run_folder.ENV,
    run_folder.CHECKPOINT,
    run_folder.LOCK,
)


def _train_paths(args: argparse.Namespace) -> tuple[Labelled, Labelled]:
    reads = [("--valid", args.valid)]
    reads += [(f"--test {name}", path) for name, path in _named_paths(args.test, "--test").items()]
    optional = {
        "--config": args.config,
        "--train-data": args.train_data,
        "init_from": _run_config(args).init_from,
    }
    reads += [(label, Path(path)) for label, path in optional.items() if path is not None]
    return reads, [("RUN_DIR", args.run_dir / name) for name in RUN_FILES]


def _train(args: argparse.Namespace) -> None:
    cfg = _run_config(args)
    tests = _named_paths(args.test, "--test")
    from mathformer.engine.train import TrainingError, TrainingInterrupted, train

    try:
        model_path = train(
            cfg,
            args.run_dir,
            args.valid,
            tests,
            device=args.device,
            threads=args.threads,
            workers=args.workers,
            eval_batch_size=args.eval_batch_size,
            train_data=args.train_data,
        )
    except TrainingInterrupted as stop:
        raise _Stopped(stop.exit_code, "interrupted", str(stop)) from None
    except TrainingError as error:
        raise _Stopped(1, "error", str(error)) from None
    _say("train", f"wrote {model_path}")


# ---- evaluate ---------------------------------------------------------------------------------


def _add_evaluate(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("evaluate", help="decode a test set and score it")
    parser.add_argument("--model", type=Path, required=True, help="model.pt (or weak.pt) of a run")
    parser.add_argument("--data", type=Path, required=True, help="test set (.npz)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="predictions table (.parquet)")
    parser.add_argument("--summary", type=Path, required=True, help="accuracy summary (.json)")
    parser.add_argument("--beam", type=int, default=1, help="beam size (default 1: greedy)")
    parser.add_argument(
        "--batch-size", type=int, help="matrices decoded together (default: 256 on CPU, 10,000 on CUDA)"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.set_defaults(
        handler=_evaluate,
        paths=lambda args: (
            [("--model", args.model), ("--data", args.data)],
            [("-o", args.out), ("--summary", args.summary)],
        ),
    )


def _evaluate(args: argparse.Namespace) -> None:
    from mathformer.engine.evaluate import evaluate

    _say("evaluate", f"decoding {args.data} with {args.model}")
    summary = evaluate(
        args.model, args.data, args.out, args.summary, args.beam, args.batch_size, args.device, args.threads
    )
    shares = "  ".join(f"{float(tol) * 100:g}%: {share:.4f}" for tol, share in summary["accuracy"].items())
    _say("evaluate", f"{summary['decoded']}/{summary['count']} decoded; accuracy {shares}; wrote {args.out}")


# ---- analyse and report -----------------------------------------------------------------------


def _add_analyse(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("analyse", help="tables and figures of the paper's results")
    kinds = parser.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS", parser_class=_Parser)
    for name, help_text, handler in [
        ("roughly-right", "what wrong eigenvector predictions still get right", _roughly_right),
        ("predictability", "which properties predict failures", _predictability),
    ]:
        sub = kinds.add_parser(name, help=help_text)
        sub.add_argument(
            "--run", action="append", required=True, metavar="NAME=PRED.parquet",
            help="a run's predictions table, labelled NAME in the tables and figures (repeatable)",
        )  # fmt: skip
        sub.add_argument("--out", type=Path, required=True, help="results folder (tables/, figures/)")
        sub.add_argument(
            "--claims", type=Path,
            help="the paper's numbers (YAML): the figures mark them beside the runs they are about, named as at the "
            "scale of the results folder's name",
        )  # fmt: skip
        sub.set_defaults(handler=handler, paths=_failure_analysis_paths)
    ood = kinds.add_parser("ood", help="out-of-distribution accuracy and learning curves")
    ood.add_argument(
        "--summary", action="append", required=True, metavar="TRAIN/TEST=SUMMARY.json",
        help="the summary of the model trained on spectrum TRAIN, tested on spectrum TEST (repeatable)",
    )  # fmt: skip
    ood.add_argument(
        "--log", action="append", required=True, metavar="TRAIN=train_log.csv",
        help="the training log of the model trained on spectrum TRAIN (repeatable)",
    )  # fmt: skip
    ood.add_argument("--out", type=Path, required=True, help="results folder (tables/, figures/)")
    ood.set_defaults(handler=_ood, paths=_ood_paths)
    training = kinds.add_parser("training", help="one row per model: examples, minutes, validation accuracy")
    training.add_argument(
        "--model", action="append", required=True, metavar="NAME=MODEL_DIR",
        help="a run directory (config.yaml, train_log.csv), labelled NAME (repeatable)",
    )  # fmt: skip
    training.add_argument("--out", type=Path, required=True, help="results folder (tables/, train_logs/)")
    training.set_defaults(handler=_training, paths=_training_paths)


def _analysis_files(args: argparse.Namespace) -> Labelled:
    """The tables' and figures' files an analysis writes under --out."""
    analysis = args.analysis.replace("-", "_")
    return [("--out", args.out / path) for _, path, _ in catalogue.files(analysis)]


def _failure_analysis_paths(args: argparse.Namespace) -> tuple[Labelled, Labelled]:
    reads = [(f"--run {name}", path) for name, path in _named_paths(args.run, "--run").items()]
    reads += [("--claims", args.claims)] if args.claims is not None else []
    return reads, _analysis_files(args)


def _ood_paths(args: argparse.Namespace) -> tuple[Labelled, Labelled]:
    summaries = _train_test_pairs(args.summary, "--summary")
    reads = [(f"--summary {train}/{test}", path) for (train, test), path in summaries.items()]
    reads += [(f"--log {name}", path) for name, path in _named_paths(args.log, "--log").items()]
    return reads, _analysis_files(args)


def _training_paths(args: argparse.Namespace) -> tuple[Labelled, Labelled]:
    models = _named_paths(args.model, "--model")
    logs = [("--out", args.out / results_layout.TRAIN_LOGS / f"{name}.csv") for name in models]
    return [(f"--model {name}", folder) for name, folder in models.items()], _analysis_files(args) + logs


def _roughly_right(args: argparse.Namespace) -> None:
    runs = _named_paths(args.run, "--run")
    from mathformer.analysis.roughly_right import roughly_right

    _say("analyse", f"roughly-right over {len(runs)} run(s)")
    roughly_right(runs, args.out, claims=args.claims)
    _say("analyse", f"wrote tables and figures under {args.out}")


def _predictability(args: argparse.Namespace) -> None:
    runs = _named_paths(args.run, "--run")
    from mathformer.analysis.predictability import predictability

    _say("analyse", f"predictability over {len(runs)} run(s)")
    predictability(runs, args.out, claims=args.claims)
    _say("analyse", f"wrote tables and figures under {args.out}")


def _ood(args: argparse.Namespace) -> None:
    summaries = _train_test_pairs(args.summary, "--summary")
    logs = _named_paths(args.log, "--log")
    from mathformer.analysis.ood import ood_study

    _say("analyse", f"ood over {len(summaries)} summaries and {len(logs)} training logs")
    ood_study(summaries, logs, args.out)
    _say("analyse", f"wrote tables and figures under {args.out}")


def _training(args: argparse.Namespace) -> None:
    models = _named_paths(args.model, "--model")
    from mathformer.analysis.training import training_summary

    _say("analyse", f"training of {len(models)} model(s)")
    training_summary(models, args.out)
    _say("analyse", f"wrote tables/training and train_logs/ under {args.out}")


def _add_report(verbs: argparse._SubParsersAction) -> None:
    parser = verbs.add_parser("report", help="run the notebooks and write one HTML report")
    parser.add_argument(
        "--notebook-dir", type=Path, required=True, help="folder of the report's notebooks (.ipynb)"
    )
    parser.add_argument("--results", type=Path, required=True, help="results folder the notebooks read")
    parser.add_argument("--claims", type=Path, required=True, help="the paper's numbers (YAML)")
    parser.add_argument("--out", type=Path, required=True, help="report folder")
    parser.add_argument(
        "--scale", help="label of the report and of the claims' runs (default: the results folder's name)"
    )
    parser.set_defaults(handler=_report, paths=_report_paths)


def _report_paths(args: argparse.Namespace) -> tuple[Labelled, Labelled]:
    """The report reads its notebooks and the analyses' folders of --results; it writes --out."""
    reads = [("--notebook-dir", args.notebook_dir), ("--claims", args.claims)]
    reads += [("--results", args.results / folder) for folder in catalogue.FOLDERS.values()]
    return reads, [("--out", args.out)]


def _report(args: argparse.Namespace) -> None:
    from mathformer.report.build import build_report

    _say("report", f"running the notebooks of {args.notebook_dir}")
    html = build_report(args.notebook_dir, args.results, args.claims, args.out, scale=args.scale)
    _say("report", f"wrote {html}")


# ---- entry point ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG, description="Replication of Charton (2022), 'What is my math transformer doing?'"
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=_Parser)
    for add in (_add_generate, _add_train, _add_evaluate, _add_analyse, _add_report):
        add(verbs)
    return parser


def _fail(status: int, kind: str, message: str) -> int:
    text = " ".join(message.split())  # always one line
    print(f"{PROG}: {kind}: {text}", file=sys.stderr, flush=True)
    return status


# What torch says when an allocation fails (CPU: "DefaultCPUAllocator: can't allocate memory: you
# tried to allocate N bytes"; CUDA: torch.OutOfMemoryError, "CUDA out of memory. Tried to allocate
# 2.00 GiB"): a RuntimeError, told apart by its text so that this module need not import torch.
_TORCH_ALLOCATION = re.compile(r"can't allocate memory|out of memory", re.IGNORECASE)
_ASKED = re.compile(r"tried to allocate (\d+) bytes|tried to allocate ([\d.]+ ?[KMGT]i?B)", re.IGNORECASE)


def _out_of_memory(verb: str, error: BaseException) -> str:
    if not isinstance(error, RuntimeError):  # a MemoryError: numpy's says what it could not allocate
        detail = str(error) or "an allocation failed"
    elif asked := _ASKED.search(str(error)):
        size = f"{int(asked[1]) / 1e9:.1f} GB" if asked[1] else asked[2]
        detail = f"could not allocate {size} more"
    else:
        detail = "an allocation failed"
    return f"out of memory in {verb}: {detail}; ask for less or run it where there is more memory"


def _exhausted(verb: str, error: Exception) -> str | None:
    """The one line for a resource that ran out (disk, quota, memory), else None."""
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {error.filename}" if error.filename else ""
        return f"{verb}: {os.strerror(error.errno)}{where}; free some space or write elsewhere"
    if isinstance(error, MemoryError) or (
        isinstance(error, RuntimeError) and _TORCH_ALLOCATION.search(str(error))
    ):
        return _out_of_memory(verb, error)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    verb = " ".join(filter(None, (args.verb, getattr(args, "analysis", None))))
    try:
        refuse_overwrites(verb, *args.paths(args))
        args.handler(args)
    except _Stopped as stop:
        return _fail(stop.status, stop.kind, str(stop))
    except (OSError, MemoryError, RuntimeError) as error:
        line = _exhausted(verb, error)
        if line is None and not isinstance(error, OSError):
            raise  # a bug: its traceback is what helps
        return _fail(1, "error", line or str(error) or type(error).__name__)
    except ValueError as error:
        return _fail(1, "error", str(error) or type(error).__name__)
    except KeyboardInterrupt:
        return _fail(130, "interrupted", "stopped by Ctrl-C")
    return 0


if __name__ == "__main__":
    sys.exit(main())
