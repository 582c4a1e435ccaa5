"""The reports' sentences: both languages complete, possibilities always worded as such, and every
Japanese word a plot draws covered by the plots' font."""

from __future__ import annotations

import re

import pytest

from ja_sentiment.plotting import japanese_font, missing_glyphs
from ja_sentiment.reports.text import EN, JA, Text

PLOT_KEYS = ("plot_agreement", "plot_length", "ea_words_plot", "error_rate", "with_word", "without_word",
             "plot_loss", "plot_dev", "epoch")


def test_both_languages_have_the_same_sentences_and_placeholders():
    assert EN.keys() == JA.keys()
    for key in EN:
        assert set(re.findall(r"\{(\w+)", EN[key])) == set(re.findall(r"\{(\w+)", JA[key])), key


def test_every_possibility_is_worded_as_one_in_both_languages():
    keys = [k for k in EN if k.startswith("possible_") and k not in ("possible_causes", "possible_intro")]
    assert len(keys) == 5
    for key in keys:
        assert re.search(r"\b(may|might|could)\b", EN[key]), key
        assert "可能性" in JA[key], key
    for key in (k for k in EN if k.startswith("finding_")):  # and no fact is
        assert not re.search(r"\b(may|might|could)\b", EN[key]), key
        assert "可能性" not in JA[key], key


def test_the_plot_font_draws_every_japanese_plot_label():
    fonts = japanese_font()
    labels = [JA[k] for k in PLOT_KEYS]
    assert missing_glyphs(fonts, labels) == set()
    assert missing_glyphs(fonts[1:], labels)  # the fallback alone (matplotlib's default) would not


def test_an_unknown_language_is_refused():
    with pytest.raises(ValueError, match="one of"):
        Text("fr")
    assert Text("ja")("epoch") == "エポック"
