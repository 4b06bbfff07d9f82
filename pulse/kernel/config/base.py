"""What every section of the configuration shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigError(Exception):
    """A configuration problem, worded for the person editing the file."""


class StrictModel(BaseModel):
    """A section of ``pulse.yml``: unknown keys are errors, values never change once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)
