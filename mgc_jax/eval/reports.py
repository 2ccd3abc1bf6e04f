"""Table 2, Table 1, results.json and confusion-matrix PNGs of a cross-validation (`crossval.Evaluation`),
beside the paper's.
"""
from __future__ import annotations

import io
import math
import os
import pathlib

import numpy as np

from mgc_jax import evaluate
from mgc_jax.config import N_FOLDS, ONE_FOLD_SPLITS, split_folds
from mgc_jax.eval import paper
from mgc_jax.workdir import atomic_write, write_json

RESULTS_FORMAT = 1


def _pct(x: float, digits: int = 1) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _signed(x: float) -> str:
    return f"{x:+.1f}".replace("-", "−")


def _cell(x: float) -> str:
    """A confusion percentage: integer when it is one (GTZAN's 100-track rows), else one decimal."""
    if math.isnan(x):
        return "—"
    return f"{x:.0f}" if abs(x - round(x)) < 0.05 else f"{x:.1f}"


def _fold_list(folds) -> str:
    folds = list(folds)
    if folds == list(range(folds[0], folds[-1] + 1)) and len(folds) > 2:
        return f"{folds[0]}-{folds[-1]}"
    return ", ".join(map(str, folds))


def _single_test_set(ev) -> bool:
    return ev.split in ONE_FOLD_SPLITS or len(ev.folds) == 1


def _with_paper(ev) -> bool:
    """The paper's numbers are shown beside ours for GTZAN only (its ten genres, any split)."""
    return ev.kind == "gtzan" and tuple(ev.genres) == paper.GENRES


def _comparable(ev) -> bool:
    """The paper's numbers are GTZAN's under random stratified folds: say so when ours are something else."""
    return _with_paper(ev) and ev.split == "stratified"


def _unit(ev) -> str:
    """What a class is called in titles: GTZAN's and the synthetic corpus's classes are genres."""
    return "genre" if ev.kind in ("gtzan", "synthetic") else "class"


def _split_name(ev) -> str:
    many = ev.n_folds != N_FOLDS and ev.split not in ONE_FOLD_SPLITS
    return f"{ev.split} split" + (f" ({ev.n_folds} folds)" if many else "")


def _md(text: str) -> str:
    """A class name as a markdown table cell: a label's own "|" would end the cell."""
    return str(text).replace("|", "\\|")


def paper_confusion(ev, system: str) -> np.ndarray | None:
    """The paper's Table 1 matrix (%) for a system when it has one and the corpus is GTZAN, else None."""
    if system in paper.TABLE1 and _with_paper(ev):
        return paper.TABLE1[system]
    return None


def _paper_row(ev, system: str):
    """(mean %, half-width %) of the paper's Table 2 row, None where there is none or it is not shown."""
    return paper.TABLE2.get(system) if _with_paper(ev) else None


# -------------------------------------------------------------------------------------------- Table 2


def accuracy_table(ev, systems=None) -> str:
    """The Markdown table of Table 2 for `systems` (default: all of `ev`): ours, beside the paper's for GTZAN."""
    single, with_paper = _single_test_set(ev), _with_paper(ev)
    cols = ["system", "ours"] + (["paper", "ours − paper"] if with_paper else []) \
        + ([] if single else ["fold mean ± std"]) + ["95 % interval (ours)"] + ([] if single else ["folds"]) \
        + ["tracks"]
    lines = ["| " + " | ".join(cols) + " |", "| --- |" + " ---: |" * (len(cols) - 1)]
    for name in systems or ev.systems:
        res = ev.systems[name]
        s = res.summary
        ref = _paper_row(ev, name)
        cells = [res.label, f"{100 * s.pooled:.1f} ± {100 * s.ci_half_width:.1f}"]
        if with_paper:
            cells += [f"{ref[0]:.1f} ± {ref[1]:.1f}" if ref else "—", _signed(100 * s.pooled - ref[0]) if ref else "—"]
        if not single:
            cells.append(f"{100 * s.fold_mean:.1f} ± {100 * s.fold_std:.1f}")
        cells.append(f"[{100 * s.ci_lo:.1f}, {100 * s.ci_hi:.1f}]")
        if not single:
            cells.append(str(len(s.fold_accuracy)))
        cells.append(str(s.n_tracks))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table2_markdown(ev) -> str:
    """Table 2 as Markdown: one row per system, ours beside the paper's."""
    single = _single_test_set(ev)
    any_sys = next(iter(ev.systems.values()))
    lines = [f"# Table 2 — track accuracy, corpus `{ev.corpus}`, {_split_name(ev)}", ""]
    if ev.split == "filtered":
        scope = f"the fault-filtered split's test set ({any_sys.summary.n_tracks} tracks, one train/valid/test split)"
    elif ev.split == "manifest":
        scope = f"the manifest's test tracks ({any_sys.summary.n_tracks} tracks, one train/valid/test split)"
    elif single:
        scope = f"the test tracks of fold {ev.folds[0]} ({any_sys.summary.n_tracks} tracks)"
    else:
        scope = (f"the test tracks of folds {_fold_list(ev.folds)} pooled ({any_sys.summary.n_tracks} decisions, "
                 "each track tested once)")
    intro = (f"Ours: accuracy (%) over {scope}, ± the half-width of the {100 * ev.boot.level:g} % percentile bootstrap "
             f"interval over tracks (B = {ev.boot.n_boot}, seed {ev.boot.seed}).")
    if _with_paper(ev):
        intro += (f" Paper: {paper.CITATION}, Table 2 (GTZAN, random genre-stratified folds, mean ± 95 % bootstrap "
                  "half-width).")
    lines += [intro, ""]
    lines += accuracy_table(ev).splitlines()
    if _with_paper(ev):
        lines += ["", f"Zhang et al. 2016 on GTZAN, as cited by the paper: {paper.ZHANG2016_GTZAN:.1f} %. "
                  "The paper has no early-fusion, baseline or FUSION2+baseline row."]
    if "baseline" in ev.systems:
        lines += ["", "baseline (MFCC+SVM): per-track means and deviations of MFCCs and the eight music features, "
                  "standardised, an RBF SVM fitted on each fold's training tracks (`mgc_jax.eval.baseline`); "
                  "FUSION2+baseline adds its track probabilities to FUSION2's clip-wise mean with equal weight."]
    if not single:
        lines += ["", "Per fold (%):", "",
                  "| system | " + " | ".join(f"fold {f}" for f in ev.folds) + " |",
                  "| --- | " + " | ".join("---:" for _ in ev.folds) + " |"]
        for name, res in ev.systems.items():
            acc = res.summary.fold_accuracy
            lines.append(f"| {res.label} | " + " | ".join(_pct(100 * acc[f]) if f in acc else "—" for f in ev.folds)
                         + " |")
    lines += ["", *_caveats(ev)]
    return "\n".join(lines).rstrip() + "\n"


def _caveats(ev) -> list[str]:
    out = []
    if ev.split == "filtered":
        refs = "; ".join(f"{k}: {v:.1f} %" for k, v in paper.FILTERED_REFERENCES.items())
        out.append("The paper's numbers come from random folds, where excerpts of one artist fall on both sides; on "
                   f"the fault-filtered, artist-disjoint test set they are not comparable. Published there: {refs}.")
    elif _with_paper(ev) and not _comparable(ev):
        out.append(f"Corpus `{ev.corpus}` ({ev.split} split) is not the paper's setting: the paper's columns are "
                   "GTZAN under random stratified folds, shown for orientation only.")
    out += [f"Note: {n}" for n in ev.notes]
    return [line for o in out for line in (o, "")]


# -------------------------------------------------------------------------------------------- Table 1


def table1_markdown(ev) -> str:
    """Table 1 as Markdown: per system, the row-normalised confusion (%) with the paper's beside ours."""
    unit = _unit(ev)
    cells = (f"Cells read `ours / paper` where the paper has the system ({', '.join(paper.TABLE1)}); ours alone "
             "otherwise." if _with_paper(ev) else "Cells: ours.")
    lines = [f"# Table 1 — confusion matrices (% of each true {unit}), corpus `{ev.corpus}`, {_split_name(ev)}", "",
             f"Rows: true {unit}; columns: predicted {unit}. {cells} Ours counts every test track of folds "
             f"{_fold_list(ev.folds)}.", ""]
    cols = [_md(g) for g in ev.genres]
    for name, res in ev.systems.items():
        ours = evaluate.row_percent(res.confusion)
        ref = paper_confusion(ev, name)
        lines += [f"## {res.label}", "",
                  "| true \\ predicted | " + " | ".join(cols) + " | tracks |",
                  "| --- | " + " | ".join("---:" for _ in cols) + " | ---: |"]
        for i, g in enumerate(ev.genres):
            cells = []
            for j in range(len(ev.genres)):
                c = _cell(ours[i, j]) + (f" / {ref[i, j]}" if ref is not None else "")
                cells.append(f"**{c}**" if i == j else c)
            lines.append(f"| {_md(g)} | " + " | ".join(cells) + f" | {int(res.confusion[i].sum())} |")
        diag = np.nanmean(np.diag(ours))
        line = f"Mean of the diagonal: ours {_pct(diag)}"
        if ref is not None:
            line += f", paper {np.diag(ref).mean():.1f}"
        lines += ["", line + ".", ""]
    if ev.split == "filtered" or (_with_paper(ev) and not _comparable(ev)) or ev.notes:
        lines += _caveats(ev)
    return "\n".join(lines).rstrip() + "\n"


# ----------------------------------------------------------------------------------------- results.json


def _nan_to_none(a) -> list:
    return [[None if math.isnan(v) else round(float(v), 4) for v in row] for row in np.asarray(a, np.float64)]


def results_dict(ev) -> dict:
    """The JSON content of results.json (fractions in [0, 1]; the paper's numbers in %, as printed)."""
    systems = {}
    for name, res in ev.systems.items():
        s = res.summary
        ref = _paper_row(ev, name)
        pc = paper_confusion(ev, name)
        systems[name] = {
            "label": res.label,
            "accuracy": s.pooled,
            "ci": [s.ci_lo, s.ci_hi],
            "ci_half_width": s.ci_half_width,
            "n_tracks": s.n_tracks,
            "fold_accuracy": {str(k): v for k, v in s.fold_accuracy.items()},
            "fold_mean": s.fold_mean,
            "fold_std": s.fold_std,
            "fold_mean_ci": [s.fold_ci_lo, s.fold_ci_hi],
            "confusion": res.confusion.tolist(),
            "confusion_percent": _nan_to_none(evaluate.row_percent(res.confusion)),
            "paper": None if ref is None else {"accuracy_percent": ref[0], "ci_half_width_percent": ref[1]},
            "paper_confusion_percent": None if pc is None else pc.tolist(),
            "predictions": {t: int(p) for t, p in zip(res.track_ids, res.predictions)},
        }
    first = next(iter(ev.systems.values()))
    tracks = {}
    for res in ev.systems.values():  # every track any system decided: its fold and true genre
        for t, f, y in zip(res.track_ids, res.folds, res.labels):
            tracks.setdefault(t, {"fold": int(f), "label": int(y)})
    return {
        "format": RESULTS_FORMAT,
        "corpus": ev.corpus,
        "corpus_kind": ev.kind,
        "split": ev.split,
        "n_folds": len(split_folds(ev.split, ev.n_folds)),  # 1 for a fixed (filtered, manifest) split
        "genres": list(ev.genres),
        "classes": list(ev.genres),
        "folds": list(ev.folds),
        "bootstrap": {"n_boot": ev.boot.n_boot, "seed": ev.boot.seed, "level": ev.boot.level,
                      "method": "percentile bootstrap over tracks (pooled) and over folds (fold mean)"},
        "systems": systems,
        "tracks": tracks,
        "runs": {net: {str(f): str(d) for f, d in by_fold.items()} for net, by_fold in ev.runs.items()},
        "notes": list(ev.notes),
        "paper": {"citation": paper.CITATION, "table2_percent": {k: list(v) for k, v in paper.TABLE2.items()},
                  "zhang2016_gtzan_percent": paper.ZHANG2016_GTZAN,
                  "comparable": _comparable(ev)} if _with_paper(ev) else None,
        "n_tracks": first.summary.n_tracks,
    }


# ------------------------------------------------------------------------------------------------ PNGs


def plot_confusion(ev, system: str, path: str | os.PathLike) -> pathlib.Path:
    """confusion_<system>.png: ours (row %), and the paper's beside it when it has that system."""
    # A bare Figure on the Agg canvas: no pyplot global state, no display, whatever backend the caller set.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    res = ev.systems[system]
    panels = [(f"{res.label}: ours ({100 * res.summary.pooled:.1f} %, {res.summary.n_tracks} tracks)",
               evaluate.row_percent(res.confusion))]
    ref = paper_confusion(ev, system)
    if ref is not None:
        panels.append((f"{res.label}: Senac et al. 2017 ({paper.TABLE2[system][0]:.1f} %)", ref.astype(float)))
    n = len(ev.genres)
    fig = Figure(figsize=(6.2 * len(panels), 5.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, (title, m) in zip(axes[0], panels):
        ax.imshow(np.nan_to_num(m), cmap="Blues", vmin=0, vmax=100)
        for i in range(n):
            for j in range(n):
                if not math.isnan(m[i, j]) and m[i, j] >= 0.5:
                    ax.text(j, i, f"{m[i, j]:.0f}", ha="center", va="center", fontsize=8,
                            color="white" if m[i, j] > 60 else "black")
        ax.set_xticks(range(n), ev.genres, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(n), ev.genres, fontsize=8)
        ax.set_xlabel(f"predicted {_unit(ev)}")
        ax.set_ylabel(f"true {_unit(ev)}")
        ax.set_title(title, fontsize=10)
    fig.suptitle(f"corpus {ev.corpus}, {_split_name(ev)}, folds {_fold_list(ev.folds)} (% of each true {_unit(ev)})",
                 fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    path = pathlib.Path(path)
    with atomic_write(path) as f:
        f.write(buf.getvalue())
    return path


def write_reports(ev, out_dir: str | os.PathLike) -> dict[str, pathlib.Path]:
    """Write table2.md, table1.md, results.json and confusion_<system>.png into out_dir; returns {name: path}."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, text in (("table2.md", table2_markdown(ev)), ("table1.md", table1_markdown(ev))):
        with atomic_write(out_dir / name, "w") as f:
            f.write(text)
        written[name] = out_dir / name
    write_json(out_dir / "results.json", results_dict(ev))
    written["results.json"] = out_dir / "results.json"
    for system in ev.systems:
        p = plot_confusion(ev, system, out_dir / f"confusion_{system}.png")
        written[p.name] = p
    return written
