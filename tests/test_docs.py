"""The README fits on a screen, the two READMEs stay in step, and every relative link leads somewhere."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_JA = ROOT / "README.ja.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MAX_README_LINES = 220

# [text](target) and ![alt](target); the target ends at whitespace or ")" (an optional "title" may follow).
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)


def links(path: Path) -> list[str]:
    """Every markdown link target in the file, code blocks left out."""
    return LINK.findall(FENCE.sub("", path.read_text(encoding="utf-8")))


def relative_targets(path: Path) -> list[str]:
    """Link targets that point into the repository: no scheme (http:, mailto:), no bare anchor."""
    return [
        target.split("#", 1)[0]
        for target in links(path)
        if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) and not target.startswith("#")
    ]


def docs_linked(path: Path) -> set[Path]:
    """The docs/*.md files a file links to, resolved."""
    resolved = {(path.parent / target).resolve() for target in relative_targets(path)}
    return {p for p in resolved if p.parent == (ROOT / "docs").resolve() and p.suffix == ".md"}


def test_docs_exist():
    assert DOCS, "docs/*.md is empty"


@pytest.mark.parametrize("path", [README, README_JA], ids=lambda p: p.name)
def test_readme_fits_on_a_screen(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_README_LINES, (
        f"{path.name} has {lines} lines (at most {MAX_README_LINES}): move detail to docs/"
    )


@pytest.mark.parametrize("path", [README, README_JA, *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(path):
    missing = [target for target in relative_targets(path) if target and not (path.parent / target).exists()]
    assert not missing, f"{path.relative_to(ROOT)} links to files that do not exist: {missing}"


def test_every_doc_is_linked_from_the_readme():
    unlinked = [p.name for p in DOCS if p.resolve() not in docs_linked(README)]
    assert not unlinked, f"docs not linked from README.md: {unlinked}"


def test_japanese_readme_links_the_same_docs():
    english = {p.name for p in docs_linked(README)}
    japanese = {p.name for p in docs_linked(README_JA)}
    assert english == japanese, (
        f"only in README.md: {sorted(english - japanese)}; only in README.ja.md: {sorted(japanese - english)}"
    )


def test_readme_keeps_the_ci_test_command_and_setup():
    text = README.read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make setup" in ci and "make test" in ci
    for command in ("make setup", "make test", ". .venv/bin/activate"):
        assert command in text, f"README.md no longer shows `{command}`"


def test_link_parser():
    sample = (
        'see [a](docs/a.md#x), ![img](p.png "t"), [web](https://x.org), [here](#top)\n```\n[no](b.md)\n```\n'
    )
    assert LINK.findall(FENCE.sub("", sample)) == ["docs/a.md#x", "p.png", "https://x.org", "#top"]
