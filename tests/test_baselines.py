"""baseline_pipeline and baseline_tfidf: label mapping, the neutral band, output files, determinism.

The ready-made model is a tiny random 2-label BERT built here (ja_sentiment.tools.standins); its scores are
meaningless, so what is tested with it is the plumbing, and the threshold search is tested on
hand-made score arrays whose best threshold is known.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import f1_score

from ja_sentiment.data import SPLITS
from ja_sentiment.metrics import macro_f1
from ja_sentiment.params import ParamsError, TfidfParams
from ja_sentiment.tools import standins
from stages import baseline_pipeline as bp
from stages import baseline_tfidf

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["negative", "neutral", "positive"]
NEG, NEU, POS = 0, 1, 2
SUBJECTS = ["部屋", "朝食", "接客", "景色", "温泉", "立地", "夕食", "風呂"]
TEMPLATES = {  # class id -> templates; the class is given away by a keyword, so it is learnable
    NEG: ["{}が最悪でした。", "{}がひどかった。"],
    NEU: ["{}は普通でした。", "{}はまあまあでした。"],
    POS: ["{}が最高でした。", "{}が素晴らしかった！"],
}
# Held-out subjects for dev and test: the keywords carry over, the subjects do not.
SPLIT_SUBJECTS = {"train": SUBJECTS[:6], "dev": SUBJECTS[6:], "test": SUBJECTS[5:7]}
COLUMNS = ["id", "gold", "pred", "p_negative", "p_neutral", "p_positive"]


def split_frame(split: str) -> pd.DataFrame:
    rows = [(text.format(s), label) for s in SPLIT_SUBJECTS[split]
            for label, texts in TEMPLATES.items() for text in texts]
    return pd.DataFrame({
        "id": [f"{split}{i:03d}" for i in range(len(rows))], "text": [t for t, _ in rows],
        "label": [lab for _, lab in rows], "label_name": [NAMES[lab] for _, lab in rows],
        "agreement": 1.0, "votes": "[0, 0, 3]", "length": [len(t) for t, _ in rows]})


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    texts = [text.format(s) for s in SUBJECTS for texts in TEMPLATES.values() for text in texts]
    return standins.build(texts, tmp_path_factory.mktemp("models") / "tiny", vocab_size=300)["sentiment"]


@pytest.fixture
def project(tmp_path, monkeypatch, tiny_model):
    """A project dir with toy splits; returns a function writing params.yaml with overrides and running."""
    (tmp_path / "data" / "processed").mkdir(parents=True)
    for split in SPLITS:
        split_frame(split).to_csv(tmp_path / "data" / "processed" / f"{split}.tsv", sep="\t", index=False)
    monkeypatch.chdir(tmp_path)

    def run(stage, **baseline) -> Path:
        params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
        params["baseline"].update(model=str(tiny_model), batch_size=4, **baseline)
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
        stage.main()
        return tmp_path / "predictions"

    return run


def csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"id": str})


# --- label mapping ----------------------------------------------------------------------------


def test_mapping_is_case_insensitive_and_sums_mapped_probabilities() -> None:
    assert bp.resolve_mapping(["NEGATIVE", "Positive"], {"negative": "negative", "POSITIVE": "positive"}) \
        == {"NEGATIVE": "negative", "Positive": "positive"}
    mapping = bp.resolve_mapping(["very_neg", "Neg", "pos"],
                                 {"VERY_NEG": "negative", "neg": "negative", "pos": "positive"})
    probs = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]]) @ bp.label_matrix(mapping, NAMES)
    np.testing.assert_allclose(probs, [[0.5, 0.0, 0.5], [0.2, 0.0, 0.8]])


@pytest.mark.parametrize("labels, label_map, problem", [
    (["negative", "neutral", "positive"], {"negative": "negative", "positive": "positive"},
     "no entry for model label(s) ['neutral']"),
    (["negative", "positive"], {"negative": "negative", "positive": "positive", "Neutral": "neutral"},
     "key(s) ['Neutral'] are not labels of the model"),
    (["negative", "positive"], {"Negative": "negative", "negative": "negative", "positive": "positive"},
     "collide when compared case-insensitively"),
])
def test_mapping_errors_name_the_key_and_the_model_labels(labels, label_map, problem) -> None:
    with pytest.raises(ParamsError) as err:
        bp.resolve_mapping(labels, label_map)
    message = str(err.value)
    assert message.startswith("baseline.label_map") and problem in message and str(labels) in message


# --- neutral band threshold -------------------------------------------------------------------


def two_label_probs(top: list[float], pred: list[int]) -> np.ndarray:
    """Mapped probabilities of a negative/positive model: p_neutral is 0, the top score is `top`."""
    probs = np.zeros((len(top), 3))
    for i, (t, p) in enumerate(zip(top, pred, strict=True)):
        probs[i, p], probs[i, NEG + POS - p] = t, 1 - t
    return probs


def test_tuned_threshold_is_the_known_best() -> None:
    # Neutral texts get the low scores (0.55-0.6, wrongly polar), polar texts the high ones (>= 0.7,
    # right): every t in (0.6, 0.7] is perfect; the smallest candidate is the top score 0.7.
    gold = np.array([NEU, NEU, NEU, POS, NEG, POS, NEG, POS])
    probs = two_label_probs([0.55, 0.6, 0.58, 0.7, 0.75, 0.8, 0.85, 0.9],
                            [POS, NEG, POS, POS, NEG, POS, NEG, POS])
    assert bp.tune_threshold(gold, probs) == (0.7, 1.0)
    assert (bp.band_predict(probs, 0.7) == gold).all()
    assert macro_f1(gold, bp.band_predict(probs, None), 3) < 0.7  # the plain mapping is far off

    # A neutral-labelled model: the 0.65 row is already predicted neutral, so t = 0.65 and t = 0.7
    # give the same predictions: the tie goes to the smaller.
    tied = np.vstack([probs, [0.2, 0.65, 0.15]])
    assert bp.tune_threshold(np.append(gold, NEU), tied) == (0.65, 1.0)


def test_tuned_threshold_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    probs = np.round(rng.dirichlet([1, 0.5, 1], size=300), 2)  # coarse, so top scores repeat
    gold = np.where(rng.random(300) < 0.6, probs.argmax(axis=1), rng.integers(0, 3, 300))
    t, f1 = bp.tune_threshold(gold, probs)

    def score(threshold: float) -> float:
        return f1_score(gold, bp.band_predict(probs, threshold), labels=[0, 1, 2], average="macro",
                        zero_division=0)

    candidates = [*np.unique(probs.max(axis=1)), probs.max() + 0.01]
    best = max(score(c) for c in candidates)
    assert f1 == pytest.approx(best, abs=1e-9) and score(t) == pytest.approx(best, abs=1e-9)
    assert t == min(c for c in candidates if score(c) >= best - 1e-9)
    assert max(score(g) for g in np.linspace(0.01, 1.0, 100)) <= f1 + 1e-9  # no grid point beats it


# --- the stages, end to end -------------------------------------------------------------------


def test_pipeline_writes_plain_and_tuned_band(project) -> None:
    out = project(bp, label_map={"NEGATIVE": "negative", "Positive": "positive"}, neutral_band="tune")
    dev = split_frame("dev")
    for name in ("baseline_plain", "baseline_band"):
        assert sorted(p.name for p in (out / name).iterdir()) == ["dev.csv", "meta.json", "test.csv"]
        for split in ("dev", "test"):
            frame = csv(out / name / f"{split}.csv")
            assert list(frame.columns) == COLUMNS
            assert frame["id"].tolist() == split_frame(split)["id"].tolist()
            np.testing.assert_allclose(frame[COLUMNS[3:]].sum(axis=1), 1.0, atol=1e-5)
            assert (frame["p_neutral"] == 0).all()  # nothing maps to neutral
    plain, band = csv(out / "baseline_plain" / "dev.csv"), csv(out / "baseline_band" / "dev.csv")
    assert (plain["pred"] == np.asarray(NAMES)[plain[COLUMNS[3:]].to_numpy().argmax(axis=1)]).all()
    assert (plain[COLUMNS[3:]] == band[COLUMNS[3:]]).all().all()  # the band keeps the probabilities

    meta = json.loads((out / "baseline_band" / "meta.json").read_text(encoding="utf-8"))
    assert meta["kind"] == "ready-made pipeline" and meta["neutral_band"] == "tune"
    assert meta["mapping"] == {"negative": "negative", "positive": "positive"}
    # The CSVs reproduce the decision: neutral exactly where the top probability is below t.
    low = band[COLUMNS[3:]].max(axis=1) < meta["threshold"]
    assert (band["pred"] == np.where(low, "neutral", plain["pred"])).all()
    band_f1 = f1_score(dev["label_name"], band["pred"], labels=NAMES, average="macro", zero_division=0)
    assert meta["dev_macro_f1_at_threshold"] == pytest.approx(band_f1, abs=1e-6)
    plain_meta = json.loads((out / "baseline_plain" / "meta.json").read_text(encoding="utf-8"))
    assert plain_meta["neutral_band"] == "off" and plain_meta["threshold"] is None
    assert band_f1 >= plain_meta["dev_macro_f1_at_threshold"] - 1e-9  # tuning never loses to no band


@pytest.mark.parametrize("band", [0.6, 0.5, "off"])
def test_pipeline_fixed_and_off_bands(project, band) -> None:
    out = project(bp, neutral_band=band)
    meta = json.loads((out / "baseline_band" / "meta.json").read_text(encoding="utf-8"))
    plain, banded = (csv(out / name / "test.csv") for name in ("baseline_plain", "baseline_band"))
    if band == "off":
        assert (meta["neutral_band"], meta["threshold"]) == ("off", None)
        for split in ("dev", "test"):
            assert (out / "baseline_band" / f"{split}.csv").read_bytes() \
                == (out / "baseline_plain" / f"{split}.csv").read_bytes()
    else:
        assert (meta["neutral_band"], meta["threshold"]) == ("fixed", band)
    # A 2-label model's top score is >= 0.5, and the untrained one stays close to 0.5: a band at
    # 0.6 turns everything neutral, one at 0.5 nothing.
    expected = ["neutral"] * len(plain) if band == 0.6 else plain["pred"].tolist()
    assert banded["pred"].tolist() == expected


def test_pipeline_rejects_a_map_key_the_model_lacks_before_writing(project) -> None:
    expected = r"baseline\.label_map.*\['neutral'\].*\['negative', 'positive'\]"
    with pytest.raises(ParamsError, match=expected):
        project(bp, label_map={"negative": "negative", "positive": "positive", "neutral": "neutral"})
    assert not Path("predictions").exists()


def test_tfidf_learns_a_separable_toy_set_deterministically(project) -> None:
    out = project(baseline_tfidf)
    first = {p.name: p.read_bytes() for p in (out / "tfidf").iterdir()}
    assert sorted(first) == ["dev.csv", "meta.json", "test.csv", "train.csv"]
    for split in SPLITS:
        frame = csv(out / "tfidf" / f"{split}.csv")
        assert list(frame.columns) == COLUMNS
        np.testing.assert_allclose(frame[COLUMNS[3:]].sum(axis=1), 1.0, atol=1e-5)
        assert (frame["pred"] == frame["gold"]).mean() >= (1.0 if split == "train" else 0.9)
    meta = json.loads(first["meta.json"])
    assert meta["model"] == "tfidf-char-ngram+logreg" and meta["revision"] == "trained here"
    assert meta["C"] == 4.0 and meta["dev_accuracy"] >= 0.9

    project(baseline_tfidf)  # again, from scratch: byte-identical outputs
    assert {p.name: p.read_bytes() for p in (out / "tfidf").iterdir()} == first


def test_tfidf_keeps_a_column_for_a_class_missing_from_train() -> None:
    texts, labels = ["最高でした", "最悪でした", "最高の景色", "最悪の接客"], [POS, NEG, POS, NEG]
    model = baseline_tfidf.build_model(TfidfParams()).fit(texts, labels)
    probs = baseline_tfidf.class_probs(model, ["最高", "最悪"], 3)
    assert probs.shape == (2, 3) and (probs[:, NEU] == 0).all()
    assert probs.argmax(axis=1).tolist() == [POS, NEG]
