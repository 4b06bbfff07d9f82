"""The learned model's file beside ``pulse.yml``: written by ``pulse tune --write``, read
by ``pulse tune --show``, and by :func:`live_model` for every scoring run (`pulse score`,
the daily pipeline, live rescoring), which then scores with it.

The file is plain YAML (:mod:`scoring.learn.document` describes its content), named
:data:`MODEL_FILE_NAME` in the directory of the configuration file Pulse reads. It is
checked before it replaces an earlier one (it must read back as the same scorecard), and
replaced atomically, so a failed write leaves the previous model as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pulse.services.weights_file import config_path, replace_atomically
from scoring.learn.document import scorecard_from_document
from scoring.learn.live import LearnedModel
from scoring.learn.scorecard import ScorecardError

MODEL_FILE_NAME = "pulse-model.yml"
HEADER = (
    "# Churn model learned by `pulse tune --write` (docs/scoring.md). Health is the sum of\n"
    "# each input's points; edit nothing by hand but re-run `pulse tune --write` instead.\n"
)


def model_path() -> Path:
    """Where the model lives: beside the configuration file."""
    return config_path().parent / MODEL_FILE_NAME


def write_model(document: dict[str, Any], path: Path | None = None) -> Path:
    """Write ``document``; refuses (:class:`ScorecardError`) one that does not read back."""
    path = path or model_path()
    text = HEADER + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    scorecard_from_document(yaml.safe_load(text))
    replace_atomically(path, text)
    return path


def read_model(path: Path | None = None) -> dict[str, Any]:
    """The stored document, checked; :class:`ScorecardError` (or ``OSError``) otherwise."""
    path = path or model_path()
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ScorecardError(f"{path}: not valid YAML: {exc}") from None
    scorecard_from_document(doc)
    return doc


def live_model(path: Path | None = None) -> LearnedModel | None:
    """The model scoring runs use: None when no model was written (the rules score);
    :class:`ScorecardError` naming the file when it cannot be read."""
    path = path or model_path()
    if not path.exists():
        return None
    try:
        return LearnedModel.from_document(read_model(path))
    except (ScorecardError, OSError) as exc:
        raise ScorecardError(
            f"{path}: {exc}; run `pulse tune --write` again, or remove the file to score "
            "with the rules"
        ) from None
