"""Word evidence for Level 3: which words are over-represented in the sentences a model gets wrong.

Sentences are split into words with MeCab (fugashi + unidic-lite, the dictionary the tohoku v3
tokenizer uses) and each word is reduced to its dictionary form in the sentence's own spelling
(unidic's `orthBase`: 良かっ → 良い, ありがとう stays ありがとう; unidic's `lemma` would turn it
into 有り難う, which no reader of the corpus recognises).

For every word found in at least `min_count` sentences of a group, a one-sided Fisher exact test
asks whether sentences containing it are wrong more often than the others. The p-values of every
analysis of a split (all errors, and each confusion pair) are corrected together with
Benjamini-Hochberg (statsmodels; `correct_together`): correcting each analysis on its own would let
chance alone pass some words in one of the seven. A word is reported as over-represented when its
corrected q-value is below the false discovery rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

import numpy as np
import pandas as pd

WORD_COLUMNS = ["word", "sentences", "errors", "error_rate", "rest_rate", "odds_ratio", "p", "q",
                "significant"]


@cache
def _tagger():
    import fugashi
    import unidic_lite

    return fugashi.Tagger(f'-d "{unidic_lite.DICDIR}"')


def words(text: str) -> list[str]:
    """The sentence's words in order, each in its dictionary form (spaces left out)."""
    out = []
    for node in _tagger()(text):
        if node.feature.pos1 == "空白":
            continue
        base = getattr(node.feature, "orthBase", None)
        out.append(base if base and base != "*" else node.surface)
    return out


def word_sets(texts: Iterable[str]) -> list[frozenset[str]]:
    return [frozenset(words(t)) for t in texts]


def evidence(sets: Sequence[frozenset[str]], event: Sequence[bool], min_count: int,
             fdr: float | None = None) -> pd.DataFrame:
    """Per word in at least `min_count` of the sentences: how often sentences with it have `event`
    (an error, or one confusion) against the sentences without it; one-sided Fisher p (more often
    with the word); with `fdr`, Benjamini-Hochberg q over the words tested here (without, q and
    `significant` are left for `correct_together`); most significant first."""
    from scipy.stats import fisher_exact

    event = np.asarray(event, dtype=bool)
    n, total = len(sets), int(event.sum())
    counts: dict[str, list[int]] = {}
    for s, hit in zip(sets, event, strict=True):
        for w in s:
            c = counts.setdefault(w, [0, 0])
            c[0] += 1
            c[1] += int(hit)
    rows = []
    for word, (with_word, hits) in counts.items():
        if with_word < min_count or with_word == n:  # a word in every sentence compares with nothing
            continue
        rest, rest_hits = n - with_word, total - hits
        table = [[hits, with_word - hits], [rest_hits, rest - rest_hits]]
        odds, p = fisher_exact(table, alternative="greater")
        rows.append({"word": word, "sentences": with_word, "errors": hits, "error_rate": hits / with_word,
                     "rest_rate": rest_hits / rest, "odds_ratio": float(odds), "p": float(p)})
    if not rows:  # typed, so that selecting rows by `significant` still works on it
        types = {"word": object, "significant": bool}
        return pd.DataFrame({c: pd.Series(dtype=types.get(c, float)) for c in WORD_COLUMNS})
    table = pd.DataFrame(rows).assign(q=np.nan, significant=False)
    return correct_together({"one": table}, fdr)["one"] if fdr is not None else table[WORD_COLUMNS]


def correct_together(tables: dict[str, pd.DataFrame], fdr: float) -> dict[str, pd.DataFrame]:
    """Benjamini-Hochberg over the p-values of every table together: each table's q and
    `significant` columns set from the joint correction, rows most significant first."""
    from statsmodels.stats.multitest import multipletests

    p = np.concatenate([t["p"].to_numpy(dtype=float) for t in tables.values()])
    q = multipletests(p, method="fdr_bh")[1] if len(p) else p
    out, start = {}, 0
    for name, table in tables.items():
        table = table.assign(q=q[start:start + len(table)])
        start += len(table)
        table["significant"] = table["q"] < fdr
        out[name] = table.sort_values(["q", "p", "sentences", "word"], ascending=[True, True, False, True],
                                      kind="stable").reset_index(drop=True)
    return out


def containing(texts: Sequence[str], sets: Sequence[frozenset[str]], word: str, limit: int) -> list[str]:
    """Up to `limit` of the texts whose words include `word`, in their order."""
    return [t for t, s in zip(texts, sets, strict=True) if word in s][:limit]


def word_tables(part: pd.DataFrame, names: Sequence[str], min_count: int, fdr: float
                ) -> dict[str, pd.DataFrame]:
    """Word evidence of one split (rows with `text`, `gold`, `pred`, `wrong`): all errors ("all"), then
    each confusion pair "gold→pred" (among the gold class's sentences, predicted as pred); each row with
    up to two example sentences. Benjamini-Hochberg runs over every word test of the split together."""
    texts, sets = part["text"].tolist(), word_sets(part["text"])
    out = {"all": (part, part["wrong"].to_numpy())}
    for gold in names:
        rows = (part["gold"] == gold).to_numpy()
        for pred in (p for p in names if p != gold):
            out[f"{gold}→{pred}"] = (part[rows], (part.loc[rows, "pred"] == pred).to_numpy())
    tables = {}
    for name, (rows, event) in out.items():
        idx = [part.index.get_loc(i) for i in rows.index]
        sub_sets, sub_texts = [sets[i] for i in idx], [texts[i] for i in idx]
        found = evidence(sub_sets, event, min_count)
        hit_texts = [t for t, e in zip(sub_texts, event, strict=True) if e]
        hit_sets = [s for s, e in zip(sub_sets, event, strict=True) if e]
        found["examples"] = [" / ".join(containing(hit_texts, hit_sets, w, 2)) for w in found["word"]]
        tables[name] = found
    return correct_together(tables, fdr)
