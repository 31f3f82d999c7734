"""Synthetic inputs with known answers for the analysis and report tests.

Predictions tables follow the contract's layout (list columns, the scalar feature columns and the
"mathformer" parquet metadata) and are scored with mathformer.core.metrics, so they are what the
evaluate step would write for these predictions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from mathformer.core.config import RunConfig
from mathformer.core.intervals import wilson
from mathformer.core.metrics import problem_features
from mathformer.core.problems import SPECTRA, Problem
from mathformer.formats.predictions import predictions_table, write_predictions
from mathformer.formats.summaries import write_summary


def scored_table(
    task: str, inputs: np.ndarray, targets: np.ndarray, predictions: np.ndarray, decoded: np.ndarray
) -> pa.Table:
    """The evaluate step's table for these predictions, as if the model had read the exact inputs."""
    return predictions_table(task, inputs, targets, predictions, decoded, read_inputs=inputs)


def write_table(
    table: pa.Table, path: Path, task: str, n: int, spectrum: str = "semicircle", model_file: str = "model.pt"
) -> Path:
    metadata = {
        "task": task,
        "n": n,
        "spectrum": spectrum,
        "train_spectrum": spectrum,
        "run": path.stem,
        "target_shape": [],
    }
    metadata["model_file"] = model_file  # weak.pt for the weak snapshot, as evaluate records it
    write_predictions(table, metadata, path)
    return path


def eigenvector_predictions(
    count: int = 600, n: int = 4, broken_share: float = 0.2, seed: int = 0
) -> tuple[pa.Table, np.ndarray]:
    """Exact eigen-decompositions, except a `broken_share` of rows whose eigenvector matrix is C,
    the matrix with cos 0.3 on its diagonal and sin 0.3 / sqrt(n - 1) elsewhere: every row and
    column of C has unit norm, but its rows are far from orthogonal (|cos| ~ 0.38 at n = 4). So
    eigenvalues and unit norms stay right (by the paper's definitions, which check rows and
    columns), orthogonality breaks and the task error exceeds 5 %. Also returns which rows are broken.
    """
    rng = np.random.default_rng(seed)
    inputs, targets = Problem("eigenvectors", n=n).sample(count, rng)
    predictions = targets.copy()
    broken = rng.random(count) < broken_share
    angle = 0.3
    unit_rows_and_columns = np.full((n, n), np.sin(angle) / np.sqrt(n - 1))
    np.fill_diagonal(unit_rows_and_columns, np.cos(angle))
    predictions[broken, 1:, :] = unit_rows_and_columns
    table = scored_table("eigenvectors", inputs, targets, predictions, np.ones(count, dtype=bool))
    return table, broken


def inversion_predictions(
    count: int = 600, n: int = 3, cond_limit: float = 30.0, seed: int = 0
) -> tuple[pa.Table, np.ndarray]:
    """Inverses that are exact for well-conditioned inputs and wrong by 50 % of the identity
    (in M P - I) for inputs whose condition number exceeds `cond_limit`: the failures are
    exactly the ill-conditioned inputs. A few rows do not decode. Returns the table and the
    ill-conditioned rows.
    """
    rng = np.random.default_rng(seed)
    inputs, targets = Problem("inversion", n=n).sample(count, rng)
    ill = problem_features("inversion", inputs)["input_cond"] > cond_limit
    predictions = targets.copy()
    # P = M^-1 (I + E) gives M P - I = E; E = 0.5 I makes the error n * 0.5 / n = 0.5.
    predictions[ill] = targets[ill] * 1.5
    decoded = np.ones(count, dtype=bool)
    decoded[:5] = False
    predictions[~decoded] = np.nan
    return scored_table("inversion", inputs, targets, predictions, decoded), ill


def ood_summaries(folder: Path, accuracy: dict[tuple[str, str], float]) -> dict[tuple[str, str], Path]:
    """One summary JSON per (train run, test spectrum), accuracy at 5 % as given, halved at 2 %, quartered at 1 %."""
    paths = {}
    for (train, test), share in accuracy.items():
        path = folder / f"{train}__{test}.json"
        shares = {"0.05": share, "0.02": share / 2, "0.01": share / 4, "0.005": 0.0}
        intervals = {
            key: [float(bound) for bound in wilson(round(value * 100), 100)] for key, value in shares.items()
        }
        summary = {"run": train, "test_set": test, "task": "eigenvalues", "count": 100, "decoded": 100}
        write_summary(summary | {"accuracy": shares, "accuracy_interval": intervals}, path)
        paths[(train, test)] = path
    return paths


def train_log(
    path: Path,
    accuracy: list[float],
    examples_per_epoch: int = 1000,
    tests: tuple[str, ...] = ("semicircle",),
) -> Path:
    """A train_log.csv with the training helper's columns and the given validation accuracy at 5 %."""
    share = np.asarray(accuracy)
    rows = {
        "epoch": np.arange(1, len(share) + 1),
        "examples": examples_per_epoch * np.arange(1, len(share) + 1),
    }
    rows |= {
        "wall_seconds": np.arange(len(share)) * 2.0,
        "lr": 1e-4,
        "loss": 1.0 / (1 + np.arange(len(share))),
    }
    for name in ("valid", *tests):
        scale = 1.0 if name == "valid" else 0.5
        rows |= {
            f"{name}_acc_5": scale * share,
            f"{name}_acc_2": scale * share / 2,
            f"{name}_acc_1": scale * share / 4,
            f"{name}_acc_0.5": 0.0,
        }
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


CLAIMS_FILE = Path(__file__).resolve().parents[1] / "config" / "claims.yaml"


def full_results(root: Path) -> Path:
    """A results folder holding every table and figure the analyses write, from synthetic inputs:
    at the smoke scale's run names (so the claims file marks the paper's values on the figures),
    with a weak snapshot beside the eigenvector model and a training spectrum (laplace) trained
    with two seeds."""
    from mathformer.analysis.ood import ood_study
    from mathformer.analysis.predictability import predictability
    from mathformer.analysis.roughly_right import roughly_right
    from mathformer.analysis.training import training_summary

    inputs = root / "inputs"
    inputs.mkdir(parents=True)
    eigvec, _ = eigenvector_predictions(count=300)
    inversion, _ = inversion_predictions(count=300)
    weak, _ = eigenvector_predictions(count=300, broken_share=0.4, seed=1)
    eig_path = write_table(eigvec, inputs / "eigvec.parquet", "eigenvectors", 4)
    weak_path = write_table(weak, inputs / "eigvec_weak.parquet", "eigenvectors", 4, model_file="weak.pt")
    inv_path = write_table(inversion, inputs / "inv.parquet", "inversion", 3)
    results = root / "results" / "smoke"
    roughly_right({"eigvec": eig_path, "eigvec_weak": weak_path}, results, claims=CLAIMS_FILE)
    predictability(
        {"eigvec": eig_path, "eigvec_weak": weak_path, "inv": inv_path}, results, claims=CLAIMS_FILE
    )
    trains = ("semicircle", "laplace_s0", "laplace_s1")
    accuracy = {
        (f"eigval_{train}", test): (0.9 if train != "semicircle" or test == "semicircle" else 0.2)
        for train in trains
        for test in SPECTRA
    }
    accuracy |= {("eigval_laplace_s0", test): 0.95 for test in SPECTRA}  # the seeds differ a little
    curves = {"semicircle": [0.1, 0.6, 0.95], "laplace_s0": [0.2, 0.7, 0.96], "laplace_s1": [0.1, 0.5, 0.9]}
    logs = {f"eigval_{train}": train_log(inputs / f"{train}.csv", curves[train]) for train in trains}
    ood_study(ood_summaries(inputs, accuracy), logs, results)
    training_summary(
        {"eigval_laplace": model_dir(inputs / "eigval_laplace", "eigenvalues", [0.1, 0.6, 0.95])}, results
    )
    return results


def model_dir(path: Path, task: str, accuracy: list[float]) -> Path:
    """A trained model's folder as the training helper leaves it, less the weights."""
    path.mkdir(parents=True)
    settings = RunConfig(
        task=task,
        n=3,
        spectrum="laplace",
        enc_layers=2,
        dec_layers=1,
        enc_dim=64,
        dec_dim=64,
        enc_heads=4,
        dec_heads=4,
    )
    (path / "config.yaml").write_text(yaml.safe_dump(settings.to_dict()))
    train_log(path / "train_log.csv", accuracy)
    return path
