"""The CRM registry: each CRM behind the CrmSystem protocol, loaded only when asked for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from connectors.crm import CRM_SYSTEMS, configured_crms, crm_system, ready_crms
from pulse.kernel.config import parse_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", CRM_SYSTEMS)
def test_each_crm_is_found_by_its_name(name: str) -> None:
    crm = crm_system(name)
    assert crm.name == name
    assert crm_system(name) is crm


def test_an_unknown_crm_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known: salesforce, hubspot"):
        crm_system("zoho")


@pytest.mark.parametrize(("name", "other"), [("hubspot", "simple_salesforce"),
                                             ("salesforce", "hubspot")])
def test_one_crm_does_not_load_the_other_crms_client_library(name: str, other: str) -> None:
    code = (f"import sys; from connectors.crm import crm_system; crm_system({name!r}); "
            f"print({other!r} in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, env={"PYTHONPATH": str(ROOT)}, timeout=120, check=True)
    assert result.stdout.strip() == "False"


def test_configured_and_ready_crms(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config({"sources": {"sample": {}, "hubspot": {}, "salesforce": {}}})
    for variable in ("SALESFORCE_ACCESS_TOKEN", "SALESFORCE_USERNAME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "token")
    assert configured_crms(config) == ["salesforce", "hubspot"]
    assert ready_crms(config) == ["hubspot"]
