"""Every figure of the project, in one style: drawn from tables, saved as PDF and PNG.

Each `*_figure` function takes the table the analysis computed (the same numbers the CSV holds)
and returns a matplotlib Figure; `save_figure` writes it, and records its caption (naming the runs)
in the folder's README.md, not in the image: the report and a reader of the folder show it there.
Figures are built with `matplotlib.figure.Figure`, never pyplot: no global state, no GUI
backend, safe in a batch job.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mathformer.files import atomic_path

STYLE: dict[str, object] = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 7,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.4,
    "savefig.dpi": 150,
    "pdf.fonttype": 42,  # embed TrueType: text stays text in the PDF
}
PANEL_SIZE = (3.6, 2.8)  # inches per panel
# One colour per spectrum, shared by every figure, so a spectrum is recognisable across them.
SPECTRUM_COLOURS = dict(
    zip(
        ("semicircle", "uniform", "gaussian", "laplace", "positive", "positive2", "marcenko"),
        matplotlib.colormaps["tab10"].colors,
    )
)
OUTCOME_COLOURS = {"correct": "tab:blue", "failed": "tab:red"}


@contextlib.contextmanager
def style() -> Iterator[None]:
    """The project style; artists take rcParams when created, so draw inside this block."""
    with matplotlib.rc_context(STYLE):
        yield


def panels(count: int, rows: int = 1) -> tuple[Figure, np.ndarray]:
    """A figure with `rows` x `count` panels (a 2-D array of axes) and constrained layout."""
    figure = Figure(figsize=(PANEL_SIZE[0] * count, PANEL_SIZE[1] * rows), layout="constrained")
    axes = figure.subplots(rows, count, squeeze=False)
    return figure, axes


def save_figure(figure: Figure, figures_dir: str | os.PathLike, name: str, caption: str) -> dict[str, Path]:
    """Write figures_dir/name.{pdf,png} atomically, and `caption` into the folder's table of figures.

    The image carries no caption: a caption baked into it would be printed twice under the
    report's own, and could not be read or fixed without redrawing.
    """
    folder = Path(figures_dir)
    paths = {suffix: folder / f"{name}.{suffix}" for suffix in ("pdf", "png")}
    # No creation date in the PDF: the same results give the same bytes (and no git diff).
    metadata = {"pdf": {"CreationDate": None}, "png": {}}
    for suffix, path in paths.items():
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=suffix, bbox_inches="tight", metadata=metadata[suffix])
    write_figure_caption(folder, name, caption)
    return paths


# ---------------------------------------------------------------- the table of figures

FIGURE_INDEX = "README.md"
_INDEX_HEADER = (
    "# Figures\n\n"
    "Each figure of this folder (NAME.pdf and NAME.png) and its caption; written by mathformer.plots.\n\n"
    "| figure | caption |\n|:---|:---|\n"
)
# A row: | name | caption |, where the caption may hold escaped pipes (\|).
_INDEX_ROW = re.compile(r"^\| (?P<name>[^|\s]+) \| (?P<caption>(?:[^|\\]|\\.)*) \|$")


def _index_cell(text: str) -> str:
    # One line per figure: newlines would end the row, a bare pipe would split it.
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")


def read_figure_captions(figures_dir: str | os.PathLike) -> dict[str, str]:
    """Figure name -> caption from figures_dir/README.md ({} when the folder has none yet)."""
    path = Path(figures_dir) / FIGURE_INDEX
    if not path.is_file():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [line for line in lines if line.startswith("|")][2:]  # after the header and its rule
    captions = {}
    for line in rows:
        match = _INDEX_ROW.match(line)
        if match is None:
            raise ValueError(f"{path}: not a '| figure | caption |' row: {line[:80]!r}")
        captions[match["name"]] = re.sub(r"\\(.)", r"\1", match["caption"])
    return captions


def write_figure_caption(figures_dir: str | os.PathLike, name: str, caption: str) -> Path:
    """Set `name`'s caption in figures_dir/README.md (rows sorted by name), atomically.

    Analyses that run at the same time share the folder: the read-modify-write holds a lock on
    the folder itself (no lock file left behind), so that no caption is lost between them.
    """
    if not re.fullmatch(r"[^|\s]+", name):
        raise ValueError(f"figure name {name!r} must be non-empty, without spaces or '|'")
    folder = Path(figures_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FIGURE_INDEX
    lock = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        captions = read_figure_captions(folder) | {name: caption}
        rows = "".join(f"| {key} | {_index_cell(captions[key])} |\n" for key in sorted(captions))
        with atomic_path(path) as tmp:
            tmp.write_text(_INDEX_HEADER + rows, encoding="utf-8")
    finally:
        os.close(lock)  # closing releases the lock
    return path


def no_data_figure(message: str) -> Figure:
    """A single empty panel saying why there is nothing to draw (the file must exist all the same)."""
    figure, axes = panels(1)
    axes[0, 0].axis("off")
    axes[0, 0].text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return figure


def _percent_axis(axes: Axes, label: str) -> None:
    axes.set_ylabel(label)
    axes.set_ylim(-2, 102)


# ---------------------------------------------------------------- result 1


ROUGHLY_RIGHT_CURVES = (
    ("accuracy_pct", "correct (task error < tol)", "black", "-"),
    ("eigenvalues_pct", "eigenvalues within tol", "tab:green", "-"),
    ("norms_pct", "eigenvector norms within tol of 1", "tab:orange", "--"),
    ("orthogonal_pct", "eigenvectors orthogonal (|cos| < tol)", "tab:purple", "-"),
    ("eigenvalues_norms_pct", "eigenvalues and norms within tol", "tab:cyan", ":"),
)


def roughly_right_figure(table: pd.DataFrame) -> Figure:
    """Per run (columns), shares against tolerance for all predictions (top) and failures (bottom)."""
    runs = list(dict.fromkeys(table["run"]))
    figure, axes = panels(len(runs), rows=2)
    for column, run in enumerate(runs):
        rows = table[table["run"] == run]
        for row, population in enumerate(("all", "failed")):
            ax = axes[row, column]
            for key, label, colour, line in ROUGHLY_RIGHT_CURVES:
                # Accuracy is a share of all predictions; among failures it is 0 by definition.
                name = key if key == "accuracy_pct" else f"{population}_{key}"
                if name in rows and not (population == "failed" and key == "accuracy_pct"):
                    ax.plot(rows["tolerance_pct"], rows[name], line, color=colour, marker="o", markersize=3, label=label)
                    if f"{name}_low" in rows:  # the 95 % Wilson interval as a band, where it exists
                        low, high = rows[f"{name}_low"].to_numpy(float), rows[f"{name}_high"].to_numpy(float)
                        known = np.isfinite(low) & np.isfinite(high)
                        if known.any():
                            ax.fill_between(rows["tolerance_pct"].to_numpy(float)[known], low[known], high[known], color=colour, alpha=0.15, linewidth=0)
            ax.set_xscale("log")
            ax.set_xlabel("tolerance (%, log scale)")
            _percent_axis(ax, "share of all predictions (%)" if population == "all" else "share of decoded failures (%)")
            ax.set_title(f"{run}: {'all test matrices' if population == 'all' else 'decoded failures'}")
    axes[0, 0].legend(loc="lower right")
    return figure


# ---------------------------------------------------------------- result 2


def condition_histograms_figure(histograms: pd.DataFrame) -> Figure:
    """Per run, the density of log condition number (the table's `quantity`) for correct and failed predictions."""
    if histograms.empty:
        return no_data_figure("no finite condition numbers to show")
    runs = list(dict.fromkeys(histograms["run"]))
    figure, axes = panels(len(runs))
    for ax, run in zip(axes[0], runs):
        rows = histograms[histograms["run"] == run]
        for outcome, group in rows.groupby("outcome", sort=False):
            edges = np.append(group["bin_left"].to_numpy(), group["bin_right"].to_numpy()[-1])
            ax.stairs(group["density"].to_numpy(), edges, color=OUTCOME_COLOURS.get(outcome), label=f"{outcome} (n={int(group['count'].iloc[0])})")
        ax.set_xlabel(rows["quantity"].iloc[0])
        ax.set_ylabel("density (per unit of log10)")
        ax.set_title(f"{run} (split at {rows['tolerance_pct'].iloc[0]:g} % tolerance)")
        ax.legend()
    return figure


def roc_figure(curves: pd.DataFrame) -> Figure:
    """Per run, held-out ROC curves of the failure predictors, with their AUC in the legend."""
    if curves.empty:
        return no_data_figure("no run has both correct and failed predictions: no ROC curve")
    runs = list(dict.fromkeys(curves["run"]))
    figure, axes = panels(len(runs))
    for ax, run in zip(axes[0], runs):
        rows = curves[curves["run"] == run]
        for predictor, group in rows.groupby("predictor", sort=False):
            ax.plot(100 * group["false_alarm_rate"], 100 * group["caught_rate"], label=f"{predictor} (AUC {group['auc'].iloc[0]:.3f})")
        ax.plot([0, 100], [0, 100], ":", color="grey", linewidth=1)
        ax.set_xlabel("false alarms: correct predictions flagged (%)")
        _percent_axis(ax, "failures caught (%)")
        ax.set_title(f"{run} (held-out split, {rows['tolerance_pct'].iloc[0]:g} % tolerance)")
        ax.legend(loc="lower right")
    return figure


# ---------------------------------------------------------------- result 3


def ood_heatmap_figure(accuracy: pd.DataFrame, tolerance_pct: float) -> Figure:
    """Training spectrum (rows) by test spectrum (columns) accuracy, annotated, 0 to 100 %."""
    matrix = accuracy.set_index("train_spectrum")
    figure = Figure(figsize=(1.0 + 0.8 * matrix.shape[1], 0.8 + 0.6 * matrix.shape[0]), layout="constrained")
    ax = figure.subplots()
    ax.grid(False)
    image = ax.imshow(matrix.to_numpy(dtype=float), vmin=0, vmax=100, cmap="viridis", aspect="auto")
    for (row, column), value in np.ndenumerate(matrix.to_numpy(dtype=float)):
        text = "n/a" if np.isnan(value) else f"{value:.1f}"
        ax.text(column, row, text, ha="center", va="center", fontsize=7, color="white" if np.isnan(value) or value < 60 else "black")
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=30, ha="right")
    ax.set_yticks(range(matrix.shape[0]), matrix.index)
    ax.set_xlabel("test spectrum")
    ax.set_ylabel("training spectrum")
    figure.colorbar(image, ax=ax, label=f"accuracy at {tolerance_pct:g} % tolerance (%)")
    return figure


def _count_unit(largest: float) -> tuple[float, str]:
    """A divisor and its name that keep axis numbers short: millions at paper scale, thousands in tests."""
    for scale, unit in ((1e6, "millions"), (1e3, "thousands")):
        if largest >= scale:
            return scale, unit
    return 1.0, "examples"


def learning_curves_figure(curves: pd.DataFrame, panel_titles: Sequence[tuple[str, str]], tolerance_pct: float) -> Figure:
    """One panel per evaluation set (key, title): accuracy against examples seen, a line per training spectrum."""
    if curves.empty or not panel_titles:
        return no_data_figure("no learning curve at this tolerance in the training logs")
    figure, axes = panels(len(panel_titles))
    scale, unit = _count_unit(curves["examples"].max())
    for ax, (evaluation, title) in zip(axes[0], panel_titles):
        rows = curves[curves["evaluated_on"] == evaluation]
        for spectrum, group in rows.groupby("train_spectrum", sort=False):
            ax.plot(group["examples"] / scale, group["accuracy_pct"], color=SPECTRUM_COLOURS.get(spectrum), label=spectrum)
        ax.set_xlabel(f"training examples seen ({unit})")
        _percent_axis(ax, f"accuracy at {tolerance_pct:g} % tolerance (%)")
        ax.set_title(title)
    axes[0, 0].legend(title="trained on", loc="lower right")
    return figure
