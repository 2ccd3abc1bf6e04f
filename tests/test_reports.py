"""mgc_jax.eval.reports: Table 2, Table 1, results.json and the confusion PNGs of an evaluation."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from fake_runs import GTZAN, fake_clip_probs, fold_tracks

from mgc_jax.eval import paper, reports
from mgc_jax.eval.crossval import evaluate_probs
from mgc_jax.evaluate import Bootstrap, row_percent
from mgc_jax.train.rundir import FoldProbs


def make_evaluation(folds=(0, 1, 2), split="stratified", genres=GTZAN, nets=("stft", "music", "early"), corpus="gtzan",
                    **kw):
    probs = {}
    for fold in folds:
        ids, labels = fold_tracks(fold, 2, genres)
        for k, net in enumerate(nets):
            p = fake_clip_probs(labels, seed=100 * fold + k, n_classes=len(genres))
            probs.setdefault(net, {})[fold] = FoldProbs(tuple(ids), labels, tuple(p), tuple(genres))
    return evaluate_probs(probs, corpus=corpus, split=split, boot=Bootstrap(n_boot=200), **kw)


def _row(markdown: str, first_cell: str) -> list[str]:
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in\n{markdown}")


def test_table2_puts_ours_beside_the_paper():
    ev = make_evaluation()
    md = reports.table2_markdown(ev)
    assert list(ev.systems) == ["net_STFT", "net_MUSIC", "FUSION1", "FUSION2", "early_fusion"]
    for name, res in ev.systems.items():
        s = res.summary
        row = _row(md, res.label)
        assert row[1] == f"{100 * s.pooled:.1f} ± {100 * s.ci_half_width:.1f}"
        if name in paper.TABLE2:
            mean, half = paper.TABLE2[name]
            assert row[2] == f"{mean:.1f} ± {half:.1f}"
            assert float(row[3].replace("−", "-")) == pytest.approx(100 * s.pooled - mean, abs=0.051)  # 1-decimal print
        else:
            assert row[2] == row[3] == "—"  # early fusion: not in the paper
        assert row[4] == f"{100 * s.fold_mean:.1f} ± {100 * s.fold_std:.1f}"
        assert row[6:] == ["3", "60"]  # 3 folds x 20 tracks
    assert "folds 0-2 pooled" in md and "B = 200" in md
    assert "not the paper's setting" not in md  # GTZAN genres, stratified: comparable


def test_table1_cells_read_ours_slash_paper():
    ev = make_evaluation()
    md = reports.table1_markdown(ev)
    sections = md.split("## ")[1:]
    assert [s.splitlines()[0] for s in sections] == ["net_STFT", "net_MUSIC", "FUSION1", "FUSION2", "early fusion"]
    stft = sections[0]
    ours = row_percent(ev.systems["net_STFT"].confusion)
    row = _row(stft, "rock")
    # ours / paper, the diagonal in bold; 6 tracks per genre give multiples of 16.7 % -> one decimal
    assert row[10] == f"**{reports._cell(ours[9, 9])} / 80**"
    assert row[1] == f"{reports._cell(ours[9, 0])} / 1"
    assert row[11] == "6"
    assert " / " not in _row(sections[2], "rock")[1]  # FUSION1 has no Table 1 in the paper
    assert "paper 87.7" in stft and "paper 89.3" in sections[1] and "paper 91.0" in sections[3]


def test_cells_are_integers_when_they_are_and_one_decimal_otherwise():
    assert [reports._cell(x) for x in (50.0, 100 / 3, 0.0, 99.99, float("nan"))] == ["50", "33.3", "0", "100", "—"]


def test_results_json_and_pngs(tmp_path):
    ev = make_evaluation()
    written = reports.write_reports(ev, tmp_path / "results")
    assert sorted(written) == sorted(["table2.md", "table1.md", "results.json", "confusion_net_STFT.png",
                                      "confusion_net_MUSIC.png", "confusion_FUSION1.png", "confusion_FUSION2.png",
                                      "confusion_early_fusion.png"])
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == sorted(written)  # no temp files left
    r = json.loads((tmp_path / "results" / "results.json").read_text())
    assert (r["corpus"], r["split"], r["folds"], r["genres"], r["n_tracks"]) == ("gtzan", "stratified", [0, 1, 2],
                                                                                list(GTZAN), 60)
    for name, res in ev.systems.items():
        js = r["systems"][name]
        assert js["accuracy"] == res.summary.pooled and js["ci"] == [res.summary.ci_lo, res.summary.ci_hi]
        assert js["confusion"] == res.confusion.tolist()
        preds = js["predictions"]
        assert np.mean([preds[t] == r["tracks"][t]["label"] for t in preds]) == pytest.approx(js["accuracy"])
        assert (js["paper"] is None) == (name not in paper.TABLE2)
    assert r["systems"]["FUSION2"]["paper_confusion_percent"] == paper.TABLE1["FUSION2"].tolist()
    assert r["paper"]["comparable"] is True

    def png_size(name):
        data = (tmp_path / "results" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        return struct.unpack(">II", data[16:24])  # IHDR width, height

    two, one = png_size("confusion_net_STFT.png"), png_size("confusion_FUSION1.png")
    assert two[1] == one[1] and two[0] > 1.8 * one[0]  # ours | paper side by side vs ours alone


def test_filtered_split_reports_one_test_set_with_the_right_caveat():
    ev = make_evaluation(folds=(0,), split="filtered", nets=("stft", "music"))
    md = reports.table2_markdown(ev)
    assert "fault-filtered split's test set (20 tracks" in md
    assert "fold mean" not in md and "Per fold" not in md
    assert "Jukebox (JukeMIR), Castellon et al. 2021: 79.7 %" in md
    assert len(_row(md, "FUSION2")) == 6
    assert reports.results_dict(ev)["n_folds"] == 1  # a fixed split is one fold, whatever --n_folds said
    assert reports.results_dict(make_evaluation(n_folds=3))["n_folds"] == 3


def _no_paper(ev):
    """Every trace of the paper's numbers is absent from the tables and results.json of `ev`."""
    t2, t1, js = reports.table2_markdown(ev), reports.table1_markdown(ev), reports.results_dict(ev)
    assert _row(t2, "system")[:3] == ["system", "ours", "fold mean ± std"] and "paper" not in t2.lower()
    assert " / " not in t1 and "Senac" not in t1 and "paper" not in t1.lower()
    assert js["paper"] is None
    assert all(s["paper"] is None and s["paper_confusion_percent"] is None for s in js["systems"].values())


def test_other_genres_get_no_paper_columns():
    genres = tuple(f"g{i}" for i in range(10))
    _no_paper(make_evaluation(folds=(0, 1), genres=genres, nets=("stft", "music")))


@pytest.mark.parametrize("kind", ["synthetic", "folder", "manifest"])
def test_the_paper_is_shown_for_gtzan_corpora_only(kind):
    """Same ten genre names, but not GTZAN: no paper column, cell or line (issue 12)."""
    ev = make_evaluation(folds=(0, 1), nets=("stft", "music"), corpus="x", kind=kind)
    assert ev.kind == kind
    _no_paper(ev)
    assert make_evaluation(folds=(0, 1), nets=("stft", "music"), corpus="synthetic").kind == "synthetic"  # legacy
    assert "| FUSION2 | " in reports.table2_markdown(ev)


def test_any_classes_name_the_rows_and_columns(tmp_path):
    classes = ("Acoustic", "Beats", "Electric")
    ev = make_evaluation(folds=(0,), genres=classes, nets=("stft", "music"), corpus="my_music-1234abcd",
                         kind="folder", split="manifest")
    t1 = reports.table1_markdown(ev)
    assert "| true \\ predicted | Acoustic | Beats | Electric | tracks |" in t1 and "true class" in t1
    assert [_row(t1, c)[0] for c in classes] == list(classes)
    t2 = reports.table2_markdown(ev)
    assert "the manifest's test tracks (6 tracks, one train/valid/test split)" in t2
    js = reports.results_dict(ev)
    assert js["classes"] == list(classes) and js["corpus_kind"] == "folder"
    written = reports.write_reports(ev, tmp_path)
    assert (tmp_path / "confusion_FUSION2.png").is_file() and set(written) >= {"table1.md", "table2.md"}


def test_a_label_with_a_pipe_keeps_the_table_columns():
    ev = make_evaluation(folds=(0,), genres=("a|b", "c"), nets=("stft", "music"), corpus="m", kind="manifest",
                         split="manifest")
    t1 = reports.table1_markdown(ev)
    assert "| true \\ predicted | a\\|b | c | tracks |" in t1
    header = next(line for line in t1.splitlines() if line.startswith("| true"))
    for line in t1.splitlines():
        if line.startswith("| a\\|b |"):  # as many cells as the header (an escaped pipe is not a border)
            assert line.replace("\\|", "").count("|") == header.replace("\\|", "").count("|")
