"""Stage `fetch`: download pn.tsv from its pinned URL (or copy a local file), verified by sha256.

Nothing unverified is ever left at the output path: pooch streams to a temporary file beside it
and moves it into place only once the hash matches, so an earlier good file survives a failed
re-fetch.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import pooch

from ja_sentiment.data import RAW_FILE
from ja_sentiment.params import DataParams, load_params

OFFLINE_HINT = ("Offline? Point data.url at a local copy, e.g. "
                "`dvc exp run -S data.url=../shared/data/jrte/pn.tsv` (or edit params.yaml).")


class FetchError(SystemExit):
    """A fetch failure with one message that says what to do."""


def local_source(url: str) -> Path | None:
    """The file a `file://` URL or plain path names; None for a remote URL."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):  # C:\ paths
        return Path(url)
    return None


def copy_verified(source: Path, dest: Path, sha256: str) -> None:
    if not source.is_file():
        raise FetchError(f"fetch: data.url names a local file that does not exist: {source}")
    got = pooch.file_hash(str(source), alg="sha256")
    if got != sha256:
        raise FetchError(f"fetch: sha256 mismatch for {source}\n  expected {sha256} (params data.sha256)\n"
                         f"  got      {got}\nThe local copy is not the pinned pn.tsv; nothing was written.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def download_verified(url: str, dest: Path, sha256: str, retries: int, timeout: float,
                      hint: str = OFFLINE_HINT) -> None:
    registry = pooch.create(path=dest.parent, base_url="", registry={dest.name: f"sha256:{sha256}"},
                            urls={dest.name: url}, retry_if_failed=retries)
    downloader = pooch.HTTPDownloader(progressbar=sys.stderr.isatty(), timeout=timeout)
    try:
        registry.fetch(dest.name, downloader=downloader)
    except ValueError as err:  # pooch's hash mismatch, after its retries
        raise FetchError(f"fetch: sha256 mismatch for {url}\n  {err}\nThe download was discarded; "
                         "check data.url and data.sha256 in params.yaml.") from None
    except Exception as err:  # requests' network and HTTP errors, after retries
        raise FetchError(f"fetch: could not download {url} after {retries + 1} attempt(s): "
                         f"{type(err).__name__}: {err}\n{hint}") from None


def fetch(data: DataParams, dest: Path = RAW_FILE, hint: str = OFFLINE_HINT) -> Path:
    source = local_source(data.url)
    if source is not None:
        copy_verified(source, dest, data.sha256)
    else:
        download_verified(data.url, dest, data.sha256, data.retries, data.timeout, hint)
    return dest


SMOKE_HINT = "Offline? Give make smoke a local copy of pn.tsv: make smoke SHARED_PN=path/to/pn.tsv"


def main(argv: list[str] | None = None) -> None:
    """The stage (no arguments), or `--out PATH` for `make smoke` without a local copy of the corpus:
    the same pinned, verified download to PATH (outside the stage's output, which `dvc exp run`
    removes before it runs), with errors on one line that say what to do."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="download here instead of the stage's output (make smoke)")
    args = parser.parse_args(argv)
    params = load_params()
    if args.out is None:
        path = fetch(params.data)
    elif args.out.is_file() and pooch.file_hash(str(args.out), alg="sha256") == params.data.sha256:
        path = args.out  # a verified copy from an earlier smoke run
    else:
        try:
            path = fetch(params.data, args.out, SMOKE_HINT)
        except FetchError as err:
            raise FetchError(" ".join(str(err).split("\n"))) from None
    print(f"fetch: {path} verified (sha256 {params.data.sha256[:12]}…)", file=sys.stderr)


if __name__ == "__main__":
    main()
