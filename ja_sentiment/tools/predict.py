"""Sentiment of new text with a saved classifier. A command-line tool, not a pipeline stage.

    sentiment-predict reviews.txt > predictions.jsonl      (= python -m ja_sentiment.tools.predict)
    sentiment-predict --model build/tiny/sentiment reviews.csv --column body --output out.jsonl
    echo 'この映画は最高だった' | sentiment-predict

Input, from a file or stdin (`-`, the default): txt (one text a line), csv/tsv with a header (the
`--column` column), or jsonl (the `--column` key of each object). `--format auto` goes by the file's
extension; stdin is read as txt. Output: one JSON object a line, in input order,
{"text": ..., "label": ..., "scores": {label: probability, ...}}. Every input line (csv/tsv: row) gets
exactly one output line, so outputs align with inputs: a blank text, a blank jsonl line or a jsonl
null gets "label": null, "scores": null and "error": "empty text" instead of a prediction.

Input is streamed in chunks of `--chunk-size` texts, so memory does not grow with the input size.
Bad input (missing or unreadable file, non-UTF-8 bytes, bad JSON, missing column or key, unknown
extension) or a model that cannot be loaded is reported in one line on stderr, with exit status 2.
An `--output` file is written to a temporary file renamed at the end, so a failed run leaves none;
output to stdout is flushed chunk by chunk, so there it may stop part way.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TextIO

from ja_sentiment.calibration import apply_temperature
from ja_sentiment.inference import classify, inference_precision
from ja_sentiment.models import load_text_classifier
from ja_sentiment.provenance import read_temperature

FORMATS = {".txt": "txt", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl"}
EMPTY = "empty text"


def chunks(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class PredictError(Exception):
    """A problem with the input, the model or the output path: one line on stderr, exit status 2."""


class Utf8Lines(io.TextIOBase):
    """A byte stream decoded a line at a time, so a bad byte is reported with its line number.

    Iterate over it (txt, jsonl) or `read` it (what pandas does, csv and tsv), not both.
    """

    def __init__(self, raw: IO[bytes], name: str) -> None:
        self.raw, self.name, self.lineno, self.pending = raw, name, 0, ""

    def readable(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> str:
        data = self.raw.readline()
        if not data:
            return ""
        self.lineno += 1
        try:  # utf-8-sig on line 1 drops the byte-order mark that spreadsheet exports put there
            return data.decode("utf-8-sig" if self.lineno == 1 else "utf-8")
        except UnicodeDecodeError as err:
            raise PredictError(f"{self.name}: line {self.lineno}: not valid UTF-8 ({err.reason})") from None

    def read(self, size: int | None = -1) -> str:
        parts, n = [self.pending], len(self.pending)
        while size is None or size < 0 or n < size:
            line = self.readline()
            if not line:
                break
            parts.append(line)
            n += len(line)
        text = "".join(parts)
        cut = len(text) if size is None or size < 0 else size
        self.pending = text[cut:]
        return text[:cut]


def json_texts(stream: Utf8Lines, column: str) -> Iterator[str]:
    for line in stream:
        if not line.strip():  # a blank line still gets its (error) output line
            yield ""
            continue
        where = f"{stream.name}: line {stream.lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise PredictError(f"{where}: invalid JSON ({err.msg}, column {err.colno})") from None
        if not isinstance(obj, dict) or column not in obj:
            keys = f"; its keys: {list(obj)}" if isinstance(obj, dict) else ""
            raise PredictError(f"{where}: expected a JSON object with a {column!r} key{keys} (see --column)")
        if obj[column] is not None and not isinstance(obj[column], str):
            raise PredictError(f"{where}: {column!r} is a {type(obj[column]).__name__}, not a string")
        yield obj[column] or ""


def table_texts(stream: Utf8Lines, fmt: str, column: str, chunk_size: int) -> Iterator[list[str]]:
    import pandas as pd

    try:  # dtype=str, keep_default_na=False: cells as written ("NA", "1" stay text; a blank cell is "")
        for frame in pd.read_csv(stream, sep="\t" if fmt == "tsv" else ",", dtype=str,
                                 keep_default_na=False, chunksize=chunk_size):
            if column not in frame.columns:
                raise PredictError(f"{stream.name}: no column {column!r}; columns: {list(frame.columns)}"
                                   " (see --column)")
            yield frame[column].tolist()
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise PredictError(f"{stream.name}: not valid {fmt} ({err})") from None


def read_texts(stream: Utf8Lines, fmt: str, column: str, chunk_size: int) -> Iterator[list[str]]:
    """The input texts in chunks of at most `chunk_size`, in input order."""
    if fmt == "txt":
        yield from chunks((line.removesuffix("\n").removesuffix("\r") for line in stream), chunk_size)
    elif fmt == "jsonl":
        yield from chunks(json_texts(stream, column), chunk_size)
    else:
        yield from table_texts(stream, fmt, column, chunk_size)


def load_model(model: str, revision: str, max_length: int):
    path = Path(model)
    if path.exists() and not (path / "config.json").is_file():
        raise PredictError(f"{model} is not a saved model (no {path / 'config.json'})")
    try:
        return load_text_classifier(model, revision, max_length)
    except (OSError, ValueError) as err:
        why = "no such directory, nor a hub model that can be loaded" if not path.exists() else "cannot load"
        raise PredictError(f"model {model}: {why} ({(str(err).splitlines() or [repr(err)])[0]})") from None


@contextlib.contextmanager
def open_output(path: str) -> Iterator[TextIO]:
    """stdout, or a temporary file beside `path` that is renamed onto it only once all is written."""
    if path == "-":
        yield sys.stdout
        return
    target = Path(path)
    try:
        if target.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as err:
        raise PredictError(f"cannot write {path}: {err.strerror}") from None
    try:
        with open(fd, "w", encoding="utf-8") as f:
            yield f
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private: give it a new file's usual mode
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def predict(pipe, batches: Iterable[list[str]], out: TextIO, batch_size: int, max_length: int,
            bf16: bool = False, temperature: float = 1.0) -> None:
    from tqdm.auto import tqdm

    id2label = pipe.model.config.id2label
    names = [id2label[i] for i in range(len(id2label))]
    with tqdm(desc="predict", unit=" sentences", file=sys.stderr) as bar:
        for texts in batches:
            todo = [i for i, t in enumerate(texts) if t.strip()]
            probs = (classify(pipe, [texts[i] for i in todo], batch_size, max_length, progress=False,
                              bf16=bf16)
                     if todo else [])
            if len(probs) and temperature != 1.0:
                probs = apply_temperature(probs, temperature)
            scored = dict(zip(todo, probs, strict=True))
            for i, text in enumerate(texts):
                p = scored.get(i)
                record = ({"text": text, "label": None, "scores": None, "error": EMPTY} if p is None else
                          {"text": text, "label": names[int(p.argmax())],
                           "scores": {n: round(float(x), 6) for n, x in zip(names, p, strict=True)}})
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
            bar.update(len(texts))


def run(args: argparse.Namespace) -> None:
    stdin = args.input == "-"
    name = "<stdin>" if stdin else args.input
    fmt = args.format if args.format != "auto" else "txt" if stdin else FORMATS.get(Path(name).suffix.lower())
    if fmt is None:
        raise PredictError(f"cannot tell the format of {name} from its extension: pass --format "
                           f"({', '.join(sorted(set(FORMATS.values())))})")
    try:
        raw = contextlib.nullcontext(sys.stdin.buffer) if stdin else open(name, "rb")
    except OSError as err:
        raise PredictError(f"cannot read {name}: {err.strerror}") from None
    with raw as f:
        batches = read_texts(Utf8Lines(f, name), fmt, args.column, args.chunk_size)
        # Read the first chunk before the slow model load, so a bad header or first line fails at once.
        first = next(batches, None)
        with open_output(args.output) as out:
            pipe = load_model(args.model, args.revision, args.max_length)
            temperature = model_temperature(args.model) if args.calibration == "auto" else 1.0
            if first is not None:
                predict(pipe, itertools.chain([first], batches), out, args.batch_size, args.max_length,
                        bf16=inference_precision(args.precision, pipe.model.device.type) == "bf16",
                        temperature=temperature)


def model_temperature(model: str) -> float:
    """The temperature the evaluate stage fitted for a local model directory (1: none, or stale)."""
    if not Path(model).is_dir():
        return 1.0
    temperature, source = read_temperature(Path(model))
    if "other weights" in source:
        print(f"predict: warning: {source}; scores are not temperature-scaled", file=sys.stderr)
    elif temperature != 1.0:
        print(f"predict: scores temperature-scaled with T={temperature:g} ({source})", file=sys.stderr)
    return temperature


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sentiment-predict", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("input", nargs="?", default="-", help="input file, or - for stdin")
    parser.add_argument("--model", default="models/finetuned", help="saved model directory (or hub id)")
    parser.add_argument("--revision", default="main", help="hub revision (ignored for a directory)")
    parser.add_argument("--format", choices=["auto", "txt", "csv", "tsv", "jsonl"], default="auto",
                        help="auto: by file extension; stdin is txt")
    parser.add_argument("--column", default="text", help="csv/tsv column or jsonl key holding the text")
    parser.add_argument("--output", default="-", help="output .jsonl file, or - for stdout")
    parser.add_argument("--batch-size", type=int, default=64, help="texts per forward pass")
    parser.add_argument("--max-length", type=int, default=128, help="tokens; longer texts are truncated")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                        help="bf16: autocast inference (not bit-equal to fp32); auto: bf16 where the GPU/CPU "
                             "computes bf16 natively and faster than fp32, else fp32")
    parser.add_argument("--calibration", choices=["auto", "off"], default="auto",
                        help="auto: apply the temperature that `dvc repro evaluate` fitted for this model "
                             "(evaluate.temperature_scaling; <model>_calibration.json), if any")
    parser.add_argument("--chunk-size", type=int, default=4096, help="texts read and scored at a time")
    args = parser.parse_args(argv)
    for opt in ("batch_size", "max_length", "chunk_size"):
        if getattr(args, opt) < 1:
            parser.error(f"--{opt.replace('_', '-')} must be positive")
    try:
        run(args)
    except PredictError as err:
        print(f"predict: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
