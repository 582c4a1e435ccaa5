"""Build the offline HTML template for `dvc plots show` / `dvc plots diff`: vendor/vega/dvc_plots.html.

DVC's default page loads Vega, Vega-Lite and Vega-Embed from a CDN, so offline every interactive plot
is blank. DVC takes a page template of our own (`plots.html_template` in .dvc/config, iterative/dvc#5679);
this one carries the three libraries inline. It has no `{scripts}` placeholder, on purpose: that is
where DVC would insert its CDN <script> tags.

Maintainers only (needs the npm registry); users never run it, the template is committed:

    npm install --prefix /tmp/vega vega@5 vega-lite@5 vega-embed@6
    python -m ja_sentiment.tools.plots_template --node-modules /tmp/vega/node_modules

The majors must match the `$schema` of DVC's generated specs (Vega-Lite v5 in dvc-render 1.x);
tests/test_plots_offline.py checks it in a real browser.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

PACKAGES = {"vega": "vega.min.js", "vega-lite": "vega-lite.min.js", "vega-embed": "vega-embed.min.js"}
OUT = Path(__file__).resolve().parents[2] / "vendor" / "vega" / "dvc_plots.html"
# dvc-render fills these by plain string replacement, so none may occur inside the inlined code.
PLACEHOLDERS = ("{plot_divs}", "{refresh_tag}", "{scripts}")

PAGE = """<!DOCTYPE html>
<!-- Offline template for `dvc plots show`: {versions}, inline (BSD-3-Clause, University of
     Washington Interactive Data Lab; licences in vendor/vega/).
     Built by `python -m ja_sentiment.tools.plots_template`. -->
<html>
<head>
    <meta charset="utf-8">
    <meta name="vega-versions" content="{versions}">
    {{refresh_tag}}
    <title>DVC Plot (offline)</title>
{inline}
    <style>
        body {{ font-family: sans-serif; }}
        table {{ border-spacing: 15px; }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def build(node_modules: Path, out: Path = OUT) -> dict[str, str]:
    """Write the template (and the packages' licences beside it); return {package: version}."""
    versions, scripts = {}, []
    out.parent.mkdir(parents=True, exist_ok=True)
    for package, build_file in PACKAGES.items():
        root = node_modules / package
        versions[package] = json.loads((root / "package.json").read_text())["version"]
        code = (root / "build" / build_file).read_text(encoding="utf-8")
        bad = [p for p in (*PLACEHOLDERS, "</script") if p in code.lower()]
        if bad:
            raise SystemExit(f"{root / 'build' / build_file}: contains {bad}; it cannot be inlined as is")
        scripts.append(f"    <script>/* {package} {versions[package]} */\n{code}\n    </script>")
        # The vega package ships no LICENSE file (its package.json says BSD-3-Clause): LICENSE.vega
        # is the vega repository's, committed by hand.
        if (root / "LICENSE").is_file():
            shutil.copy(root / "LICENSE", out.parent / f"LICENSE.{package}")
    listed = ", ".join(f"{p} {v}" for p, v in versions.items())
    out.write_text(PAGE.format(versions=listed, inline="\n".join(scripts)), encoding="utf-8")
    return versions


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--node-modules", type=Path, required=True,
                        help="a node_modules folder holding vega, vega-lite and vega-embed")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    versions = build(args.node_modules, args.out)
    print(f"{args.out}: {versions}")


if __name__ == "__main__":
    main()
