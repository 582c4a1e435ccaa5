"""One clear line, instead of a traceback, when a hub model can be neither downloaded nor found in the cache.

Offline (HF_HUB_OFFLINE=1, or no network) transformers raises an OSError from deep in the hub client;
after `make smoke` the usual cause is a shell without the smoke run's HF_HOME.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SMOKE_ENV = "build/smoke.env"  # written by `make smoke`: HF_HOME of the stand-ins, HF_HUB_OFFLINE=1


class ModelUnavailable(SystemExit):
    """Exits with the message (status 1): DVC shows it as the stage's error, with no traceback."""


def cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def unavailable_message(model: str, revision: str, cause: BaseException) -> str:
    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return (f"model {model!r} at revision {revision!r} is neither reachable "
            f"({'HF_HUB_OFFLINE=1' if offline else 'hub not reached'}) nor in the Hugging Face cache "
            f"{cache_dir()}. Ways out: go online; fill that cache (`hf download {model} --revision "
            f"{revision}`); after `make smoke`, use its cache (`. {SMOKE_ENV}` or `make exp SMOKE=1`); "
            f"or set the params to a local model directory. [{reason}]")


def is_hub_id(model: str) -> bool:
    """`org/name` as the hub spells ids, and no such local path."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(model)
    except HFValidationError:
        return False
    return not Path(model).exists()


@contextmanager
def hub_model(model: str, revision: str) -> Iterator[None]:
    """Around `from_pretrained(model, revision=...)`: an OSError for a hub id becomes ModelUnavailable.

    A local path keeps its own error (a missing or broken file there is not a hub matter)."""
    try:
        yield
    except OSError as err:
        if not is_hub_id(model):
            raise
        raise ModelUnavailable(unavailable_message(model, revision, err)) from None
