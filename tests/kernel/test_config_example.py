"""``pulse.example.yml`` is written from the config model: every key, current, and loadable.

The file is what ``pulse config example`` writes (``make example-config``); turned on (its
commented-out sections and examples uncommented) it names every key of the model,
recursively, and passes validation; as it is, it loads as the defaults, which run the demo.
"""

from __future__ import annotations

import re
import types
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
import yaml
from pydantic import BaseModel, Field

from pulse.kernel.config import PulseConfig, StrictModel, load_config, parse_config
from pulse.kernel.config.example import NOT_IN_FILE, REGENERATE, render_example

EXAMPLE = Path(__file__).parents[2] / "pulse.example.yml"
OUT_OF_DATE = f"pulse.example.yml is out of date with the config model: run `{REGENERATE}`"


def _shape(annotation: Any) -> tuple[str, type[BaseModel] | None]:
    """("one" | "list" | "dict", the section model inside) of a field's type."""
    kind = "one"
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            rest = [a for a in get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                return kind, None
            annotation = rest[0]
        elif origin is list:
            kind, annotation = "list", get_args(annotation)[0]
        elif origin is dict:
            kind, annotation = "dict", get_args(annotation)[1]
        else:
            model = annotation if isinstance(annotation, type) else None
            return kind, model if model and issubclass(model, BaseModel) else None


def _fields(model: type[BaseModel]) -> dict[str, Any]:
    return {n: f for n, f in model.model_fields.items()
            if not (model is PulseConfig and n in NOT_IN_FILE)}


def model_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every key path of the model (``sources.salesforce.bulk_threshold``; list entries
    and mapping values add nothing to the path but ``*`` for a mapping's own keys)."""
    keys: set[str] = set()
    for name, info in _fields(model).items():
        path = prefix + name
        keys.add(path)
        kind, section = _shape(info.annotation)
        if section is not None:
            keys |= model_keys(section, path + (".*." if kind == "dict" else "."))
    return keys


def data_keys(model: type[BaseModel], data: Any, prefix: str = "") -> set[str]:
    """The key paths present in YAML ``data`` read as a ``model`` section."""
    keys: set[str] = set()
    if not isinstance(data, dict):
        return keys
    fields = _fields(model)
    for name, value in data.items():
        if name not in fields:
            continue
        path = prefix + name
        keys.add(path)
        kind, section = _shape(fields[name].annotation)
        if section is None:
            continue
        if kind == "list":
            for entry in value or []:
                keys |= data_keys(section, entry, path + ".")
        elif kind == "dict":
            for entry in (value or {}).values():
                keys |= data_keys(section, entry, path + ".*.")
        else:
            keys |= data_keys(section, value, path + ".")
    return keys


def keys_missing_from(text: str) -> list[str]:
    """Keys of the model whose name appears on no key line of ``text`` (on or off)."""
    missing = []
    for path in sorted(model_keys(PulseConfig)):
        name = re.escape(path.rsplit(".", 1)[-1])
        if not re.search(rf"^[ ]*(#[ ]+)?(- )?{name}:", text, re.MULTILINE):
            missing.append(path)
    return missing


def test_the_file_is_what_the_generator_writes() -> None:
    assert EXAMPLE.read_text() == render_example(), OUT_OF_DATE


def test_every_key_of_the_model_is_in_the_file() -> None:
    assert keys_missing_from(EXAMPLE.read_text()) == [], OUT_OF_DATE
    turned_on = yaml.safe_load(render_example(active=True))
    missing = model_keys(PulseConfig) - data_keys(PulseConfig, turned_on)
    assert sorted(missing) == [], (
        "keys with no default content and no example; give their Field `examples=[...]`"
    )


def test_a_key_left_out_is_named() -> None:
    text = EXAMPLE.read_text()
    assert "bulk_threshold" in text and "property_group" in text
    cut = "\n".join(line for line in text.splitlines()
                    if "bulk_threshold:" not in line and "property_group:" not in line)
    assert keys_missing_from(cut) == ["sources.hubspot.property_group",
                                      "sources.salesforce.bulk_threshold"]
    assert "sources.salesforce.account_fields" in model_keys(PulseConfig)
    assert "playbooks.trigger.hours" in model_keys(PulseConfig)


def test_the_file_as_it_is_holds_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    cfg = load_config(EXAMPLE)
    assert cfg.source_file == str(EXAMPLE)
    assert cfg.model_copy(update={"source_file": None}) == PulseConfig()
    assert cfg.synced_sources == ["sample"]  # the demo's workspace, no credentials needed


def test_every_commented_out_section_and_example_is_valid() -> None:
    cfg = parse_config(yaml.safe_load(render_example(active=True)), "turned on")
    assert all(section is not None for _, section in cfg.sources)
    assert cfg.sources.salesforce is not None and cfg.sources.salesforce.bulk_threshold == 2000
    assert {p.trigger.type for p in cfg.playbooks} >= {"tier_crossed", "usage_milestone"}
    assert [r.to for r in cfg.slack.alert_routes] == ["manager", "C0123ABCD", "owner"]
    assert cfg.access.user_map == {"U0123MAYA": "maya.lindqvist@example.com"}


def test_the_file_says_it_is_generated_and_by_what() -> None:
    head = "".join(EXAMPLE.read_text().splitlines(keepends=True)[:15])
    assert REGENERATE in head and "Do not edit" in head


# ---------------------------------------------------------------------------------------
# the shapes other sections may take


class Colour(Enum):
    RED = "red"


class Member(StrictModel):
    email: str | None = Field(None, examples=["maya@example.com"])
    role: Literal["csm", "manager"] = Field("csm", description="What they do.")


class Team(StrictModel):
    name: str = Field(description="Team name.")
    members: list[Member] = Field(default_factory=list)


class Logging(StrictModel):
    """How much Pulse logs."""

    level: Literal["debug", "info"] = "info"
    colour: Colour = Colour.RED
    since: date | None = Field(None, examples=[date(2026, 1, 1)])


class Shapes(StrictModel):
    teams: list[Team] = Field(default_factory=list, examples=[[
        {"name": "EMEA", "members": [{"email": "tom@example.com", "role": "manager"}]}]])
    groups: dict[str, list[str]] = Field(default_factory=dict,
                                         examples=[{"EMEA": ["tom@example.com"]}])
    logging: Logging | None = None
    people: list[Member] = Field(default_factory=lambda: [Member()])


def test_every_shape_of_section_renders_as_valid_yaml_both_ways() -> None:
    text = render_example(model=Shapes)
    assert Shapes.model_validate(yaml.safe_load(text)) == Shapes()
    assert "  - role: csm" in text and "    # email: maya@example.com" in text
    assert re.search(r"^# logging: +# How much Pulse logs\.$", text, re.MULTILINE)
    assert "#   colour: red" in text and "#   since: 2026-01-01" in text
    turned_on = yaml.safe_load(render_example(model=Shapes, active=True))
    shapes = Shapes.model_validate(turned_on)
    assert shapes.teams[0].members[0].role == "manager"
    assert shapes.groups == {"EMEA": ["tom@example.com"]}
    assert shapes.logging == Logging(since=date(2026, 1, 1))
    assert model_keys(Shapes) == data_keys(Shapes, turned_on)


def test_an_example_naming_an_unknown_key_is_refused() -> None:
    class Broken(StrictModel):
        teams: list[Team] = Field(default_factory=list, examples=[[{"nmae": "EMEA"}]])

    with pytest.raises(ValueError, match=r"example for Team has unknown key\(s\): \['nmae'\]"):
        render_example(model=Broken)
