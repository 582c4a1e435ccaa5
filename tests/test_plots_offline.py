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
