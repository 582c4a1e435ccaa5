"""`dvc plots show` offline: the project's template carries Vega inline, and every plot renders in a
real headless Chromium with the network shut (Debian's chromium; .ci/run installs it)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from ja_sentiment.tools import plots_template
from tests.e2e_support import run

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = plots_template.OUT  # the committed page, where the builder writes it
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the machine's own browser probe starts it: no sandbox as root, and no background connections
# (a closed network refuses them, many at a time).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_committed_template_is_offline_and_set_in_dvc_config():
    page = TEMPLATE.read_text(encoding="utf-8")
    assert "{plot_divs}" in page and "{refresh_tag}" in page
    # No {scripts}: that is where DVC would put its CDN <script src=...> tags.
    assert "{scripts}" not in page
    assert not re.search(r"<script[^>]+src=", page)
    for package in plots_template.PACKAGES:
        assert (TEMPLATE.parent / f"LICENSE.{package}").is_file()
    config = (ROOT / ".dvc" / "config").read_text()
    assert re.search(r"html_template = \.\./vendor/vega/dvc_plots\.html", config)


def quantitative_fields(spec) -> set[str]:
    """Fields every (nested) encoding of a Vega-Lite spec draws on a quantitative axis."""
    found: set[str] = set()
    if isinstance(spec, dict):
        if spec.get("type") == "quantitative" and isinstance(spec.get("field"), str):
            found.add(spec["field"])
        for value in spec.values():
            found |= quantitative_fields(value)
    elif isinstance(spec, list):
        for value in spec:
            found |= quantitative_fields(value)
    return found


def check_spec_data(spec: dict) -> str | None:
    """Why the plot would come out empty, if it would: no rows, or a quantitative axis on a field whose
    values are not numbers (e.g. a class name on a scatter's x)."""
    rows = spec.get("data", {}).get("values") or []
    if not rows:
        return "no data rows"
    for field in quantitative_fields(spec.get("encoding", {})) | quantitative_fields(spec.get("layer", [])):
        if field in rows[0]:
            bad = [r[field] for r in rows if not _number(r[field])]
            if bad:
                return f"quantitative field {field!r} holds {bad[:3]}"
    return None


def title_of(spec: dict) -> str:
    return spec["title"]["text"] if isinstance(spec.get("title"), dict) else str(spec.get("title"))


def axis_titles(spec) -> list[str | None]:
    """The titles of every x and y encoding of a (nested: layers, facets) Vega-Lite spec."""
    found = []
    if isinstance(spec, dict):
        for name in ("x", "y"):
            channel = (spec.get("encoding") or {}).get(name)
            if isinstance(channel, dict) and "field" in channel:
                found.append(channel.get("title"))
        for key in ("layer", "spec", "hconcat", "vconcat"):
            part = spec.get(key)
            for sub in part if isinstance(part, list) else [part] if part else []:
                found += axis_titles(sub)
    return found


def unreadable(spec: dict) -> str | None:
    """Why a plot needs the YAML to be read, if it does: its title is a file path, an axis is unnamed or
    named `x` / `y` (DVC's names when it cannot tell), or several series share one colour."""
    title = title_of(spec)
    if re.search(r"(^|/)[\w.-]+\.(csv|tsv|json)$", title):
        return f"its title is a file path: {title}"
    bad = [a for a in axis_titles(spec) if a in (None, "", "x", "y")]
    if bad:
        return f"axes named {bad}"
    rows = spec.get("data", {}).get("values") or []
    series = {(r.get("filename"), r.get("field")) for r in rows if "filename" in r or "field" in r}
    color = json.dumps(spec.get("encoding", {}).get("color", {}))
    if len(series) > 1 and '"field": "rev"' in color:
        return f"{len(series)} series drawn in one colour per revision: {sorted(map(str, series))}"
    return None


def _number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _fake_package(root: Path, name: str, version: str, code: str) -> None:
    (root / name / "build").mkdir(parents=True)
    (root / name / "package.json").write_text(json.dumps({"version": version}))
    (root / name / "build" / plots_template.PACKAGES[name]).write_text(code)
    (root / name / "LICENSE").write_text(f"licence of {name}")


def test_template_builder_inlines_each_package_and_refuses_what_would_break_the_page(tmp_path):
    modules = tmp_path / "node_modules"
    for name in plots_template.PACKAGES:
        _fake_package(modules, name, "5.1.0", f"window['{name}'] = 1;")
    out = tmp_path / "vendor" / "t.html"
    assert plots_template.build(modules, out) == dict.fromkeys(plots_template.PACKAGES, "5.1.0")
    page = out.read_text()
    assert all(f"window['{name}'] = 1;" in page for name in plots_template.PACKAGES)
    assert "{plot_divs}" in page and "{scripts}" not in page
    assert (out.parent / "LICENSE.vega-embed").read_text() == "licence of vega-embed"
    # dvc-render replaces placeholders by plain string replacement; an end tag would close the script.
    for bad in ("var s = '</script>';", "x = '{plot_divs}';"):
        (modules / "vega" / "build" / "vega.min.js").write_text(bad)
        with pytest.raises(SystemExit, match="cannot be inlined"):
            plots_template.build(modules, out)


@pytest.mark.slow
def test_dvc_plots_show_renders_every_plot_offline_in_chromium(e2e_repo):
    from playwright import sync_api

    if not Path(CHROMIUM).is_file():
        # .ci/run installs it and sets REQUIRE_BROWSER=1: in CI this test never skips.
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    out = e2e_repo / "build" / "dvc_plots"
    shown = run(e2e_repo, "dvc", "plots", "show", "-o", str(out))
    assert "failed to load" not in shown.stdout + shown.stderr
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "cdn.jsdelivr" not in html
    schemas = set(re.findall(r'"\$schema": "https://vega\.github\.io/schema/vega-lite/v(\d+)\.json"', html))
    n_vega = len(re.findall(r"vegaEmbed\('#", html))
    specs = [json.loads(s) for s in re.findall(r"var spec = (.*?);\s*vegaEmbed\(", html, flags=re.S)]
    assert len(specs) == n_vega
    # Every plot has rows, and numbers wherever it draws a quantitative axis.
    empty = {s["title"]["text"] if isinstance(s.get("title"), dict) else s.get("title"): why
             for s in specs if (why := check_spec_data(s))}
    assert empty == {}
    # Readable without the YAML: a human title (not a file path), named axes (never `x` or `y`), and one
    # colour per series where several share a plot.
    assert {title_of(s): why for s in specs if (why := unreadable(s))} == {}
    n_images = html.count("<img ") - TEMPLATE.read_text(encoding="utf-8").count("<img ")  # not in the JS
    dvc_yaml = (e2e_repo / "dvc.yaml").read_text()
    # Every titled plot of dvc.yaml's plots section (the stages declare more of their own) and image.
    assert n_vega >= len(re.findall(r"^  - [A-Z].*:$", dvc_yaml, flags=re.M)) > 0
    assert n_images >= len(re.findall(r"^  - plots/.*\.png$", dvc_yaml, flags=re.M)) > 0

    errors: list[str] = []
    requested: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        def offline(route):  # the network is shut: anything but the page's own files is refused
            if not route.request.url.startswith("file://"):
                requested.append(route.request.url)
                return route.abort()
            return route.continue_()

        page.route("**/*", offline)
        page.goto((out / "index.html").as_uri())
        page.wait_for_function(
            f"document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks').length >= {n_vega}",
            timeout=60_000)
        versions = page.evaluate("({vega: vega.version, vegaLite: vegaLite.version})")
        drawn = page.evaluate("""() => [...document.querySelectorAll('.vega-embed')].map(el => {
            const c = el.querySelector('canvas');
            if (c) {
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let inked = 0;
                for (let i = 3; i < d.length; i += 4) if (d[i] > 0) inked++;
                return inked;
            }
            const s = el.querySelector('svg.marks');
            return s ? s.querySelectorAll('path, rect, line, text').length : 0;
        })""")
        widths = page.evaluate("[...document.images].map(i => i.complete ? i.naturalWidth : 0)")
        shot = ROOT / "build" / "dvc_plots_offline.png"
        shot.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        browser.close()

    assert errors == [] and requested == []
    # The inline Vega-Lite is the major the generated specs declare.
    assert schemas == {versions["vegaLite"].split(".")[0]}
    assert versions["vega"].split(".")[0] == "5"  # what Vega-Lite 5 is built on
    assert len(drawn) == n_vega and all(n > 0 for n in drawn), drawn
    assert len(widths) == n_images and all(w > 0 for w in widths), widths
    assert shot.stat().st_size > 10_000


def test_the_readability_check_finds_a_path_title_an_axis_named_y_and_series_in_one_colour():
    """The defects seen in `dvc plots show` before: a stage plot titled with its file path, an axis
    DVC names `y`, three reliability diagrams told apart only by dash."""
    rows = [{"filename": f, "field": "accuracy", "confidence": 0.5, "accuracy": 0.5, "rev": "workspace"}
            for f in ("finetuned_test.csv", "tfidf_test.csv")]
    good = {"title": {"text": "Reliability"}, "data": {"values": rows},
            "encoding": {"x": {"field": "confidence", "title": "confidence"}, "color": {"field": "series"}},
            "layer": [{"encoding": {"y": {"field": "accuracy", "title": "accuracy in the bin"}}}]}
    assert unreadable(good) is None
    assert unreadable({**good, "title": "plots/data/class_balance.csv"}) == (
        "its title is a file path: plots/data/class_balance.csv")
    named_y = {**good, "layer": [{"encoding": {"y": {"field": "dvc_inferred_y_value", "title": "y"}}}]}
    assert unreadable(named_y) == "axes named ['y']"
    by_rev = {**good, "encoding": {**good["encoding"], "color": {"field": "rev"}}}
    assert unreadable(by_rev).startswith("2 series drawn in one colour per revision")


def test_the_data_check_finds_a_class_name_on_a_quantitative_axis():
    """The defect the browser test found: text lengths drawn as a scatter with the class name on x."""
    scatter = {"data": {"values": [{"label_name": "negative", "length": 12}]},
               "encoding": {"x": {"field": "label_name", "type": "quantitative"},
                            "y": {"field": "length", "type": "quantitative"}}}
    assert check_spec_data(scatter) == "quantitative field 'label_name' holds ['negative']"
    lines = {"data": {"values": [{"length": "5", "negative": 160}]},
             "layer": [{"encoding": {"x": {"field": "length", "type": "quantitative"}}}]}
    assert check_spec_data(lines) is None
    assert check_spec_data({"data": {"values": []}}) == "no data rows"


def test_every_png_plot_has_a_title_and_named_axes(tmp_path, monkeypatch):
    """The PNGs the stages draw, each from small known data: every drawn axes has a title (its own or
    the figure's) and named x and y axes (a confusion matrix's from scikit-learn)."""
    import matplotlib.figure
    import numpy as np
    import pandas as pd

    from ja_sentiment.calibration import reliability
    from ja_sentiment.reports import error_analysis, evaluate, summary
    from ja_sentiment.reports.text import Text
    from stages import preprocess

    seen: dict[str, list[tuple[str, str, str]]] = {}
    save = matplotlib.figure.Figure.savefig

    def record(fig, path, *args, **kwargs):
        """Per drawn axes: a title (its own, the figure's or its stacked neighbour's), its x label (or
        that of an axes sharing its x axis, drawn below it), its y label."""
        axes = [ax for ax in fig.axes if ax.get_visible() and ax.has_data()]
        figure_title = fig._suptitle.get_text() if fig._suptitle else ""

        def shared(ax, get):
            return " ".join(get(a) for a in ax.get_shared_x_axes().get_siblings(ax) if a in axes)

        seen[Path(path).name] = [(ax.get_title() or figure_title or shared(ax, lambda a: a.get_title()),
                                  shared(ax, lambda a: a.get_xlabel()), ax.get_ylabel()) for ax in axes]
        return save(fig, path, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", record)
    monkeypatch.chdir(tmp_path)
    names = ["negative", "neutral", "positive"]
    rng = np.random.default_rng(0)
    examples = pd.DataFrame({"split": rng.choice(["train", "dev", "test"], 90),
                             "label_name": rng.choice(names, 90), "length": rng.integers(5, 60, 90)})
    preprocess.plot(examples, names)
    t = Text("en")
    rates = pd.DataFrame({"split": ["test", "test", "train"], "agreement_level": ["3-0", "2-1", "3-0"],
                          "examples": [40, 10, 50], "errors": [4, 5, 2], "error_rate": [0.1, 0.5, 0.04]})
    error_analysis.plot_rates(rates, "agreement_level", "Errors by agreement", "by_agreement",
                              t("error_rate"), tmp_path, t("axis_agreement"))
    words = pd.DataFrame({"analysis": ["all"], "significant": [True], "split": ["test"], "word": ["部屋"],
                          "error_rate": [0.3], "rest_rate": [0.1], "errors": [3], "sentences": [10],
                          "q": [0.01]})
    error_analysis.plot_words(words, t, tmp_path)
    gold = rng.integers(0, 3, 60)
    pred = np.where(rng.random(60) < 0.7, gold, (gold + 1) % 3)
    evaluate.plot_confusion([names[g] for g in gold], [names[p] for p in pred], names, "fine-tuned, test",
                            tmp_path / "confusion.png")
    probs = rng.dirichlet(np.ones(3), 60)
    ece, table = reliability(probs, gold)
    evaluate.plot_reliability(pd.DataFrame(table), ece, "fine-tuned, test", tmp_path / "calibration.png")
    curve = pd.DataFrame({"train_loss": [1.0, 0.8], "dev_loss": [0.9, 0.85], "dev_accuracy": [0.6, 0.7],
                          "dev_macro_f1": [0.5, 0.6]}, index=pd.Index([1, 2], name="epoch"))
    summary.plot_curve(t, curve, tmp_path / "learning_curve.png")
    assert set(seen) == {"class_balance.png", "text_length.png", "by_agreement.png", "words.png",
                         "confusion.png", "calibration.png", "learning_curve.png"}
    unnamed = {name: axes for name, axes in seen.items()
               if not axes or any(not all(part.strip() for part in ax) for ax in axes)}
    assert unnamed == {}
