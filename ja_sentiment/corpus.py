"""Reading pn.tsv: every row validated (pandera), every bad line reported with its number.

Used by the preprocess stage and by the stand-in model builder (tools/standins.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from ja_sentiment.data import CORPUS_LABELS, SPLITS

COLUMNS = ("id", "label", "text", "judges", "usage")
VOTE_KEYS = {str(v) for v in CORPUS_LABELS}


class BadInput(SystemExit):
    """pn.tsv does not hold what the pipeline needs; the message lists each bad line."""


def parse_votes(judges: str) -> dict[str, int] | None:
    """The judges JSON as {corpus label: votes}, or None when it is not a JSON object of counts."""
    try:
        votes = json.loads(judges)
    except ValueError:
        return None
    ok = (isinstance(votes, dict) and votes and set(votes) <= VOTE_KEYS
          and all(type(n) is int and n >= 0 for n in votes.values()) and sum(votes.values()) > 0)
    return votes if ok else None


SCHEMA = pa.DataFrameSchema(
    {
        "id": pa.Column(str, pa.Check.str_matches(r"^\S+$", error="empty id or id with spaces"),
                        unique=True),
        "label": pa.Column(str, pa.Check.isin([str(v) for v in CORPUS_LABELS],
                                              error="label not in {1, 0, -1}")),
        "text": pa.Column(str, pa.Check(lambda s: s.str.strip() != "", error="empty text")),
        "judges": pa.Column(str, pa.Check(lambda s: s.map(parse_votes).notna(),
                                          error="judges is not a JSON object of vote counts")),
        "usage": pa.Column(str, pa.Check.isin(list(SPLITS), error="usage not in {train, dev, test}")),
    },
    strict=True,
)


def read_rows(path: Path) -> pd.DataFrame:
    """All rows of pn.tsv indexed by line number; raises BadInput listing every bad line."""
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8-sig")  # a UTF-8 BOM is harmless
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise BadInput(f"{path}:{line}: not valid UTF-8 ({err.reason} at byte {err.start})") from None
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    problems: list[tuple[int, str]] = []
    rows, numbers = [], []
    for number, line in enumerate(lines, start=1):
        fields = line.removesuffix("\r").split("\t")
        if fields == [""] and number == len(lines):
            continue  # one trailing blank line
        if len(fields) != len(COLUMNS):
            problems.append((number, f"expected {len(COLUMNS)} tab-separated fields, got {len(fields)}"))
            continue
        rows.append(fields)
        numbers.append(number)
    if not rows and not problems:
        raise BadInput(f"{path}: the file holds no rows")
    frame = pd.DataFrame(rows, columns=list(COLUMNS), index=pd.Index(numbers, name="line"), dtype=str)
    try:
        SCHEMA.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        for case in err.failure_cases.itertuples():
            problems.append((int(case.index), f"{case.column}: {case.check} ({case.failure_case!r})"))
    if problems:
        shown = [f"  {path}:{n}: {msg}" for n, msg in sorted(problems)[:50]]
        more = f"\n  … and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise BadInput(f"preprocess: {len(problems)} bad row(s) in {path}; nothing was written\n"
                       + "\n".join(shown) + more)
    return frame
