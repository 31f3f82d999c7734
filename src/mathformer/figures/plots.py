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
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from mathformer.formats.atomic import atomic_path

STYLE: dict[str, object] = {
    "font.size": 9,
    "axes.titlesize": 8,
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


LEGEND_WIDTH = 2.3  # inches added right of the panels for a shared legend (`_legend_right`)


def panels(count: int, rows: int = 1, legend_right: bool = False) -> tuple[Figure, np.ndarray]:
    """A figure with `rows` x `count` panels (a 2-D array of axes) and constrained layout; with
    `legend_right`, wider by room for a legend right of the panels, so they keep their size."""
    width = PANEL_SIZE[0] * count + (LEGEND_WIDTH if legend_right else 0.0)
    figure = Figure(figsize=(width, PANEL_SIZE[1] * rows), layout="constrained")
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
    "Each figure of this folder (NAME.pdf and NAME.png) and its caption; written by mathformer.figures.plots.\n\n"
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


LEGEND_LINE = 0.15  # inches per line of a legend set under its panel (7 pt text and spacing)


def legend_panels(count: int) -> tuple[Figure, np.ndarray]:
    """`count` panels side by side, each with a legend row under it (axes with no frame: see
    `_legends_below`), so that legends sit outside the data and the panels stay aligned.
    Returns the figure and a (2, count) array of axes: the panels, then their legend rows."""
    figure = Figure(figsize=(PANEL_SIZE[0] * count, PANEL_SIZE[1]), layout="constrained")
    axes = figure.subplots(2, count, squeeze=False)
    for ax in axes[1]:
        ax.axis("off")
    return figure, axes


def _legend_lines(labels: Sequence[str]) -> int:
    return sum(label.count("\n") + 1 for label in labels)


def _legends_below(
    figure: Figure, axes: np.ndarray, entries: Sequence[tuple[Sequence[object], Sequence[str]]]
) -> None:
    """Each panel's legend (handles, labels) in the row under it, the row as tall as the longest
    legend needs and the figure taller by as much."""
    lines = max(_legend_lines(labels) for _, labels in entries)
    height = LEGEND_LINE * lines + 0.25
    for ax, (handles, labels) in zip(axes[1], entries):
        ax.legend(handles, labels, loc="upper center", borderaxespad=0, frameon=True)
    axes[0, 0].get_gridspec().set_height_ratios([PANEL_SIZE[1], height])
    figure.set_size_inches(figure.get_figwidth(), PANEL_SIZE[1] + height)


def _legend_right(
    figure: Figure, handles: Sequence[object], labels: Sequence[str], title: str | None = None
) -> None:
    """One legend for all panels, right of them, outside the data area."""
    figure.legend(handles, labels, loc="outside center right", title=title)


# ---------------------------------------------------------------- result 1


ROUGHLY_RIGHT_CURVES = (
    ("accuracy_pct", "correct (task error < tol)", "black", "-"),
    ("eigenvalues_pct", "eigenvalues within tol", "tab:green", "-"),
    ("norms_pct", "eigenvector norms within tol of 1", "tab:orange", "--"),
    ("orthogonal_pct", "eigenvectors orthogonal (|cos| < tol)", "tab:purple", "-"),
    ("eigenvalues_norms_pct", "eigenvalues and norms within tol", "tab:cyan", ":"),
)
PAPER_MARKER = {"marker": "*", "markersize": 9, "markerfacecolor": "white", "linestyle": "none", "zorder": 5}
PAPER_LABEL = "the paper's value"


def _curve_column(key: str, population: str) -> str | None:
    """The table column of a curve for a population; accuracy is a share of all predictions
    (among failures it is 0 by definition), so it has no failed_ curve."""
    if key == "accuracy_pct":
        return key if population == "all" else None
    return f"{population}_{key}"


def _interval_band(ax: Axes, x: pd.Series, rows: pd.DataFrame, name: str, colour: str) -> None:
    """The 95 % Wilson interval of a share as a band, where the table has it and it is known."""
    if f"{name}_low" not in rows:
        return
    low, high = rows[f"{name}_low"].to_numpy(float), rows[f"{name}_high"].to_numpy(float)
    known = np.isfinite(low) & np.isfinite(high)
    if known.any():
        ax.fill_between(
            x.to_numpy(float)[known], low[known], high[known], color=colour, alpha=0.15, linewidth=0
        )


def _paper_points(ax: Axes, marks: pd.DataFrame, name: str, colour: str, headline_pct: float | None) -> None:
    """The paper's values of one curve as stars in its colour; the headline accuracy is written out."""
    chosen = marks[marks["column"] == name]
    if chosen.empty:
        return
    ax.plot(
        chosen["tolerance_pct"], chosen["value"], markeredgecolor=colour, label=PAPER_LABEL, **PAPER_MARKER
    )
    headline = (
        chosen[np.isclose(chosen["tolerance_pct"], headline_pct)]
        if headline_pct is not None
        else chosen.iloc[:0]
    )
    if name == "accuracy_pct" and not headline.empty:
        value = float(headline["value"].iloc[0])
        # Written in the lower right, where the curves (rising with the tolerance) leave room.
        ax.annotate(
            f"paper: {value:g} % at {headline_pct:g} %", (headline_pct, value), xytext=(0.97, 0.06), textcoords="axes fraction",
            ha="right", fontsize=7, arrowprops={"arrowstyle": "->", "linewidth": 0.6, "color": "grey"},
        )  # fmt: skip


def roughly_right_figure(
    table: pd.DataFrame,
    titles: Mapping[str, str] | None = None,
    paper: pd.DataFrame | None = None,
    headline_pct: float | None = None,
) -> Figure:
    """Per run (columns), shares against tolerance for all predictions (top) and failures (bottom).

    `titles` names the runs (run -> readable name); `paper` holds the paper's values (run,
    column, tolerance_pct, value), drawn as stars on the curve they belong to, the accuracy at
    `headline_pct` written out. One legend for all panels, under them.
    """
    runs = list(dict.fromkeys(table["run"]))
    titles = titles or {}
    marks = paper if paper is not None else pd.DataFrame(columns=["run", "column", "tolerance_pct", "value"])
    figure, axes = panels(len(runs), rows=2, legend_right=True)
    for column, run in enumerate(runs):
        rows = table[table["run"] == run]
        for row, population in enumerate(("all", "failed")):
            ax = axes[row, column]
            for key, label, colour, line in ROUGHLY_RIGHT_CURVES:
                name = _curve_column(key, population)
                if name is None or name not in rows:
                    continue
                ax.plot(
                    rows["tolerance_pct"],
                    rows[name],
                    line,
                    color=colour,
                    marker="o",
                    markersize=3,
                    label=label,
                )
                _interval_band(ax, rows["tolerance_pct"], rows, name, colour)
                _paper_points(ax, marks[marks["run"] == run], name, colour, headline_pct)
            ax.set_xscale("log")
            ax.set_xlabel("tolerance (%, log scale)")
            _percent_axis(
                ax, "share of all predictions (%)" if population == "all" else "share of decoded failures (%)"
            )
            ax.set_title(
                f"{titles.get(run, run)}\n{'all test matrices' if population == 'all' else 'decoded failures'}"
            )
    handles = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if PAPER_LABEL in handles:  # one legend entry for the stars of every colour
        handles[PAPER_LABEL] = Line2D([], [], markeredgecolor="black", **PAPER_MARKER)
    _legend_right(figure, list(handles.values()), list(handles))
    return figure


# ---------------------------------------------------------------- result 2


def _log_ticks(ax: Axes, offset: float) -> None:
    """Few integer decades on the x axis, written 10^k (the bins are in log10 units), so the
    labels never run into each other; the axis label says whether 1 was subtracted."""
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True, min_n_ticks=2))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"$10^{{{x:g}}}$"))
    ax.set_xlabel("condition number − 1 (log scale)" if offset else "condition number (log scale)")


def _clipped_notes(rows: pd.DataFrame, offset: float) -> list[str]:
    """Legend lines saying that the end bins also hold the values beyond them (the bins stop at
    the 0.5th and 99.5th percentiles), and how many, so a tall end bin is not read as a mode."""
    quantity = "cond − 1" if offset else "cond"
    notes = []
    for column, edge, word, sign in (
        ("clipped_low", "bin_left", "first", "≤"),
        ("clipped_high", "bin_right", "last", "≥"),
    ):
        clipped = int(rows.groupby("outcome", sort=False)[column].first().sum())
        if clipped:
            bound = rows[edge].min() if word == "first" else rows[edge].max()
            notes.append(f"{word} bin also holds {clipped} values with {quantity} {sign} {10**bound:.3g}")
    return notes


def _paper_split(ax: Axes, marks: pd.DataFrame, offset: float) -> None:
    """The paper's tails of the condition numbers as vertical lines in the outcome's colour."""
    for mark in marks.itertuples():
        if mark.value - offset <= 0:
            continue
        words = {"p98": "98th pct", "p2": "2nd pct"}.get(mark.statistic, mark.statistic)
        label = f"paper: {mark.outcome} {words} {mark.value:g}"
        ax.axvline(
            np.log10(mark.value - offset),
            color=OUTCOME_COLOURS.get(mark.outcome),
            linestyle="--",
            linewidth=1,
            label=label,
        )


def condition_histograms_figure(
    histograms: pd.DataFrame, titles: Mapping[str, str] | None = None, paper: pd.DataFrame | None = None
) -> Figure:
    """Per run, the density of log condition number (the table's `quantity`) for correct and
    failed predictions; `paper` (run, outcome, statistic, value) marks the paper's split."""
    if histograms.empty:
        return no_data_figure("no finite condition numbers to show")
    runs = list(dict.fromkeys(histograms["run"]))
    titles = titles or {}
    marks = paper if paper is not None else pd.DataFrame(columns=["run", "outcome", "statistic", "value"])
    figure, axes = legend_panels(len(runs))
    entries = []
    for ax, run in zip(axes[0], runs):
        rows = histograms[histograms["run"] == run]
        offset = float(rows["offset"].iloc[0])
        top = 0.0
        for outcome, group in rows.groupby("outcome", sort=False):
            edges = np.append(group["bin_left"].to_numpy(), group["bin_right"].to_numpy()[-1])
            ax.stairs(
                group["density"].to_numpy(),
                edges,
                color=OUTCOME_COLOURS.get(outcome),
                label=f"{outcome} (n={int(group['count'].iloc[0])})",
            )
            top = max(top, float(group["density"].max()))
        _paper_split(ax, marks[marks["run"] == run], offset)
        _log_ticks(ax, offset)
        ax.set_ylim(0, 1.05 * top if top > 0 else 1)
        ax.set_ylabel("density (per unit of log10)")
        ax.set_title(
            f"{titles.get(run, run)}\nof {rows['condition_of'].iloc[0]}, split at {rows['tolerance_pct'].iloc[0]:g} %"
        )
        handles, labels = ax.get_legend_handles_labels()
        notes = _clipped_notes(rows, offset)
        entries.append(([*handles, *(Line2D([], [], linestyle="none") for _ in notes)], [*labels, *notes]))
    _legends_below(figure, axes, entries)
    return figure


def roc_figure(
    curves: pd.DataFrame,
    titles: Mapping[str, str] | None = None,
    feature_names: Mapping[str, str] | None = None,
) -> Figure:
    """Per run, held-out ROC curves of the paper's failure predictor and the best other feature,
    AUC and its 95 % interval in the legend (under the panel, where it covers no curve)."""
    if curves.empty:
        return no_data_figure("no run has both correct and failed predictions: no ROC curve")
    runs = list(dict.fromkeys(curves["run"]))
    titles, feature_names = titles or {}, feature_names or {}
    figure, axes = legend_panels(len(runs))
    entries = []
    for ax, run in zip(axes[0], runs):
        rows = curves[curves["run"] == run]
        for (feature, role), group in rows.groupby(["feature", "role"], sort=False):
            first = group.iloc[0]
            words = "the paper's predictor" if role == "paper" else role
            auc = f"AUC {first['auc']:.3f} [{first['auc_low']:.3f}, {first['auc_high']:.3f}]"
            label = f"{feature_names.get(feature, feature)} ({words})\n{auc}"
            style = {"linewidth": 2.0} if role == "paper" else {"linestyle": "--"}
            ax.plot(100 * group["false_alarm_rate"], 100 * group["caught_rate"], label=label, **style)
        ax.plot([0, 100], [0, 100], ":", color="grey", linewidth=1, label="chance")
        ax.set_xlabel("false alarms: correct predictions flagged (%)")
        _percent_axis(ax, "failures caught (%)")
        ax.set_xlim(-2, 102)
        ax.set_title(
            f"{titles.get(run, run)}\nheld-out half, failures at {rows['tolerance_pct'].iloc[0]:g} %"
        )
        entries.append(ax.get_legend_handles_labels())
    _legends_below(figure, axes, entries)
    return figure


# ---------------------------------------------------------------- result 3


CELL_FONT = 7
INTERVAL_FONT = 6


def _interval_fits(cell_width_pt: float, text: str) -> bool:
    """Whether an interval line fits a cell: digits and brackets are about 0.6 em wide."""
    return len(text) * 0.6 * INTERVAL_FONT <= 0.92 * cell_width_pt


def ood_heatmap_figure(
    accuracy: pd.DataFrame, tolerance_pct: float, intervals: pd.DataFrame | None = None
) -> Figure:
    """Training spectrum (rows) by test spectrum (columns) accuracy, 0 to 100 %, annotated with
    the value and, where `intervals` has it (train_spectrum, test_spectrum, low, high, in
    percent) and it fits, its 95 % interval; a `seeds` column there names the rows that are means. The in-distribution cells (train ==
    test) are outlined."""
    matrix = accuracy.set_index("train_spectrum")
    values = matrix.to_numpy(dtype=float)
    cell = (1.05, 0.62) if intervals is not None else (0.8, 0.6)
    figure = Figure(
        figsize=(1.4 + cell[0] * matrix.shape[1], 0.9 + cell[1] * matrix.shape[0]), layout="constrained"
    )
    ax = figure.subplots()
    ax.grid(False)
    image = ax.imshow(values, vmin=0, vmax=100, cmap="viridis", aspect="auto")
    bounds = {} if intervals is None else {
        (line.train_spectrum, line.test_spectrum): (line.low, line.high) for line in intervals.itertuples()
    }  # fmt: skip
    for (row, column), value in np.ndenumerate(values):
        text = "n/a" if np.isnan(value) else f"{value:.1f}"
        low, high = bounds.get((matrix.index[row], matrix.columns[column]), (np.nan, np.nan))
        interval = f"[{low:.1f}, {high:.1f}]"
        if not np.isnan(value) and np.isfinite(low) and _interval_fits(72 * cell[0], interval):
            text += f"\n{interval}"
        colour = "white" if np.isnan(value) or value < 60 else "black"
        ax.text(
            column,
            row,
            text,
            ha="center",
            va="center",
            fontsize=CELL_FONT if "\n" not in text else INTERVAL_FONT,
            color=colour,
        )
        if matrix.index[row] == matrix.columns[column]:
            ax.add_patch(
                Rectangle((column - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="white", linewidth=2)
            )
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=30, ha="right")
    seeds = (
        {}
        if intervals is None or "seeds" not in intervals
        else intervals.groupby("train_spectrum")["seeds"].max().to_dict()
    )
    ax.set_yticks(
        range(matrix.shape[0]),
        [
            f"{name}\n(mean of {seeds[name]} seeds)" if seeds.get(name, 1) > 1 else name
            for name in matrix.index
        ],
    )
    ax.set_xlabel("test spectrum")
    ax.set_ylabel("training spectrum")
    ax.set_title("outlined: in distribution (trained and tested on the same spectrum)", fontsize=7)
    figure.colorbar(image, ax=ax, label=f"accuracy at {tolerance_pct:g} % tolerance (%)")
    return figure


def _count_unit(largest: float) -> tuple[float, str]:
    """A divisor and its name that keep axis numbers short: millions at paper scale, thousands in tests."""
    for scale, unit in ((1e6, "millions"), (1e3, "thousands")):
        if largest >= scale:
            return scale, unit
    return 1.0, "examples"


def learning_curves_figure(
    curves: pd.DataFrame, panel_titles: Sequence[tuple[str, str]], tolerance_pct: float
) -> Figure:
    """One panel per evaluation set (key, title): accuracy against examples seen, a line per
    training spectrum. Where a spectrum was trained with several seeds (`seeds` > 1) the line is
    their mean and a band spans their min to max (`accuracy_pct_min`, `accuracy_pct_max`)."""
    if curves.empty or not panel_titles:
        return no_data_figure("no learning curve at this tolerance in the training logs")
    figure, axes = panels(len(panel_titles), legend_right=True)
    scale, unit = _count_unit(curves["examples"].max())
    for ax, (evaluation, title) in zip(axes[0], panel_titles):
        rows = curves[curves["evaluated_on"] == evaluation]
        for spectrum, group in rows.groupby("train_spectrum", sort=False):
            colour = SPECTRUM_COLOURS.get(spectrum)
            seeds = int(group["seeds"].max()) if "seeds" in group else 1
            x = group["examples"] / scale
            ax.plot(
                x,
                group["accuracy_pct"],
                color=colour,
                label=spectrum if seeds == 1 else f"{spectrum} (mean of {seeds} seeds)",
            )
            if seeds > 1:
                ax.fill_between(
                    x,
                    group["accuracy_pct_min"],
                    group["accuracy_pct_max"],
                    color=colour,
                    alpha=0.2,
                    linewidth=0,
                )
        ax.set_xlabel(f"training examples seen ({unit})")
        _percent_axis(ax, f"accuracy at {tolerance_pct:g} % tolerance (%)")
        ax.set_title(title)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if "seeds" in curves and curves["seeds"].max() > 1:
        handles.append(Patch(color="grey", alpha=0.2))
        labels.append("band: min to max over seeds")
    _legend_right(figure, handles, labels, title="trained on")
    return figure
