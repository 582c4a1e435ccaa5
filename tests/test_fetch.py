"""fetch against a real HTTP server on 127.0.0.1: nothing unverified is ever left behind."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from ja_sentiment.params import DataParams
from stages.fetch import FetchError, fetch
from tests.conftest import copy_project

BODY = "pn17q00001\t0\t出張でお世話になりました。\t{\"0\": 3}\ttest\n".encode() * 200
GOOD_SHA = hashlib.sha256(BODY).hexdigest()


class Server:
    """Serves BODY at /pn.tsv; `plan` lists what each successive request gets."""

    def __init__(self, body: bytes = BODY) -> None:
        self.plan: list[str] = []
        self.requests = 0
        self.body = body
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests += 1
                action = server.plan.pop(0) if server.plan else "ok"
                if action == "500":
                    self.send_error(500, "boom")
                    return
                body = BODY.replace(b"0\t", b"1\t", 1) if action == "corrupt" else server.body
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                # "truncated": the connection drops halfway through the promised body.
                self.wfile.write(body[: len(body) // 2] if action == "truncated" else body)
                self.wfile.flush()
                if action == "truncated":
                    self.connection.shutdown(socket.SHUT_RDWR)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/pn.tsv"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def params(url: str, sha: str = GOOD_SHA, retries: int = 0) -> DataParams:
    return DataParams(url=url, sha256=sha, retries=retries, timeout=5)


def leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.parent.iterdir()) if dest.parent.exists() else []


def test_good_file_is_written_verified(server, tmp_path):
    dest = tmp_path / "raw" / "pn.tsv"
    fetch(params(server.url), dest)
    assert dest.read_bytes() == BODY
    assert leftovers(dest) == ["pn.tsv"]


def test_wrong_hash_leaves_nothing(server, tmp_path):
    dest = tmp_path / "raw" / "pn.tsv"
    with pytest.raises(FetchError, match="sha256 mismatch"):
        fetch(params(server.url, sha="0" * 64), dest)
    assert leftovers(dest) == []


def test_server_error_then_success_is_retried(server, tmp_path):
    server.plan = ["500", "ok"]
    dest = tmp_path / "pn.tsv"
    fetch(params(server.url, retries=2), dest)
    assert server.requests == 2
    assert dest.read_bytes() == BODY


@pytest.mark.parametrize("failure", ["500", "truncated", "corrupt"])
def test_persistent_failure_leaves_nothing(server, tmp_path, failure):
    server.plan = [failure] * 3
    dest = tmp_path / "raw" / "pn.tsv"
    with pytest.raises(FetchError) as err:
        fetch(params(server.url, retries=1), dest)
    assert server.requests == 2
    assert leftovers(dest) == []
    expected = "sha256 mismatch" if failure == "corrupt" else "could not download"
    assert expected in str(err.value)


def test_truncated_then_good_download_succeeds(server, tmp_path):
    server.plan = ["truncated", "ok"]
    dest = tmp_path / "pn.tsv"
    fetch(params(server.url, retries=1), dest)
    assert dest.read_bytes() == BODY


def test_server_down_says_what_to_do(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dest = tmp_path / "raw" / "pn.tsv"
    with pytest.raises(FetchError, match="data.url") as err:
        fetch(params(f"http://127.0.0.1:{port}/pn.tsv"), dest)
    assert "could not download" in str(err.value)
    assert leftovers(dest) == []


def test_earlier_good_file_survives_failed_refetch(server, tmp_path):
    dest = tmp_path / "pn.tsv"
    fetch(params(server.url), dest)
    server.plan = ["corrupt"]
    # A changed pinned hash forces a new download; that download fails verification.
    with pytest.raises(FetchError, match="sha256 mismatch"):
        fetch(params(server.url, sha="1" * 64), dest)
    assert dest.read_bytes() == BODY
    assert leftovers(dest) == ["pn.tsv"]


@pytest.mark.parametrize("as_url", [False, True])
def test_local_path_and_file_url(tmp_path, as_url):
    source = tmp_path / "copy of pn.tsv"
    source.write_bytes(BODY)
    dest = tmp_path / "raw" / "pn.tsv"
    fetch(params(source.as_uri() if as_url else str(source)), dest)
    assert dest.read_bytes() == BODY
    assert leftovers(dest) == ["pn.tsv"]


def test_local_file_with_wrong_hash_writes_nothing(tmp_path):
    source = tmp_path / "pn.tsv"
    source.write_bytes(BODY + b"extra\n")
    dest = tmp_path / "raw" / "pn.tsv"
    with pytest.raises(FetchError, match="sha256 mismatch"):
        fetch(params(str(source)), dest)
    assert not dest.exists()


def test_missing_local_file(tmp_path):
    with pytest.raises(FetchError, match="does not exist"):
        fetch(params(str(tmp_path / "nope.tsv")), tmp_path / "pn.tsv")


def make(project: Path, *args: str) -> subprocess.CompletedProcess:
    venv = Path(sys.executable).parent.parent  # this session's, used as it is (outside the copy)
    return subprocess.run(["make", *args, f"VENV={venv}"], cwd=project, capture_output=True, text=True)


def test_make_smoke_without_a_local_copy_downloads_the_pinned_corpus_through_fetch(shared_pn, tmp_path):
    """A copy of the project with no ../shared beside it: `make smoke` gets pn.tsv through the fetch
    stage's own download (here from a real HTTP server on 127.0.0.1 serving a copy, params.yaml's
    data.url pointed at it for this test only), hash-checked, to build/data/pn.tsv, and the stand-ins
    and the pipeline run on that file; SHARED_PN still wins; a failed download says in one line what
    to do."""
    project = copy_project(tmp_path / "clone" / "project")
    assert not (project.parent.parent / "shared").exists()
    server = Server(shared_pn.read_bytes())
    try:
        params_file = project / "params.yaml"
        params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
        params["data"].update(url=server.url, retries=0)
        params_file.write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
        got = make(project, "smoke-data")
        assert got.returncode == 0, got.stdout + got.stderr
        assert ("smoke: no ../shared/data/jrte/pn.tsv; downloading the pinned pn.tsv to build/data/pn.tsv"
                in got.stdout)
        copy = project / "build/data/pn.tsv"
        assert copy.read_bytes() == shared_pn.read_bytes() and server.requests == 1
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == params["data"]["sha256"]
        assert make(project, "smoke-data").returncode == 0 and server.requests == 1  # verified: kept
        dry = make(project, "-n", "smoke").stdout  # what make smoke runs next: on the downloaded file
        assert "standins --data build/data/pn.tsv" in dry and f"data.url={copy.resolve()}" in dry
        dry = make(project, "-n", "smoke", f"SHARED_PN={shared_pn}").stdout  # a local copy wins
        assert f"standins --data {shared_pn}" in dry and f"data.url={shared_pn}" in dry
        local = make(project, "smoke-data", f"SHARED_PN={shared_pn}")
        assert f"smoke: pn.tsv from {shared_pn}" in local.stdout and server.requests == 1
        copy.unlink()
        server.plan = ["500"]
        failed = make(project, "smoke-data")
        assert failed.returncode != 0 and not copy.exists()
        (line,) = [x for x in failed.stderr.splitlines() if x.startswith("fetch:")]  # one line says it all
        assert line.startswith("fetch: could not download http://127.0.0.1:"), failed.stderr
        assert line.endswith("Offline? Give make smoke a local copy of pn.tsv: make smoke "
                             "SHARED_PN=path/to/pn.tsv"), failed.stderr
    finally:
        server.close()
