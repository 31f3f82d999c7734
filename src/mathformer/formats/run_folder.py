"""The files of a training run's directory: the one place their names are written.

Torch-free, so the planning (mathformer.planning) and the analyses name a run's files without
importing the model. What each file holds is owned elsewhere: model.pt and weak.pt by `model_files`,
train_log.csv by `train_log`, ckpt/state.pt by `checkpoints`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MODEL = "model.pt"
WEAK = "weak.pt"  # only for runs with weak_accuracy
TRAIN_LOG = "train_log.csv"
CONFIG = "config.yaml"  # the resolved run config
ENV = "env.json"  # versions of what ran it
# Undeclared to Snakemake, which deletes a failed job's declared outputs: a retry must resume.
CHECKPOINT = "ckpt/state.pt"
LOCK = ".train.lock"


def declared_outputs(run_dir: str | os.PathLike, keeps_weak: bool) -> dict[str, str]:
    """What a finished training leaves in `run_dir`, by role, as Snakemake declares it."""
    names = {"model": MODEL, "train_log": TRAIN_LOG, "config": CONFIG, "env": ENV}
    if keeps_weak:
        names["weak"] = WEAK
    return {role: (Path(run_dir) / name).as_posix() for role, name in names.items()}


# A config row with several seeds becomes one run per seed, named by `seeded_run_name`; the
# analyses find the groups again by SEEDED_RUN.
SEEDED_RUN = re.compile(r"(?P<group>.+)_s(?P<seed>\d+)")


def seeded_run_name(name: str, seed: int) -> str:
    return f"{name}_s{seed}"
