"""Matplotlib set up for the reports' plots: no display, and a Japanese font for Japanese words.

matplotlib's default font (DejaVu Sans) has no Japanese glyphs: words would be drawn as empty
boxes. matplotlib-fontja ships IPAexGothic (IPA Font License) and registers it as the default family.
"""

from __future__ import annotations

import os
from functools import cache

import matplotlib

matplotlib.use("Agg")


FALLBACK = "DejaVu Sans"  # matplotlib's own font: symbols IPAexGothic lacks (≤ in "≤10")


@cache
def japanese_font() -> tuple[str, ...]:
    """Make IPAexGothic matplotlib's default font, with DejaVu Sans as the per-glyph fallback; the
    font files drawn with, in order."""
    import matplotlib_fontja
    from matplotlib import font_manager

    matplotlib_fontja.japanize()
    matplotlib.rcParams["font.family"] = [matplotlib_fontja.matplotlib_fontja.FONT_NAME, FALLBACK]
    fallback = font_manager.findfont(font_manager.FontProperties(family=FALLBACK), fallback_to_default=False)
    return matplotlib_fontja.get_font_ttf_path(), os.fspath(fallback)


def missing_glyphs(font_files: tuple[str, ...], texts: list[str]) -> set[str]:
    """The characters of `texts` that none of the font files has a glyph for (drawn as empty boxes)."""
    from matplotlib.ft2font import FT2Font

    charmaps = [FT2Font(f).get_charmap() for f in font_files]
    return {c for t in texts for c in t if not c.isspace() and not any(ord(c) in m for m in charmaps)}
