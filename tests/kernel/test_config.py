"""A bad pulse.yml fails at start-up naming the key, the file and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulse.kernel.config import ConfigError, load_config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pulse.yml"
    path.write_text(text)
    return path


def test_defaults_when_file_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PULSE_CONFIG", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    cfg = load_config()
    assert cfg.database_url == "sqlite:///./pulse.db"
    assert cfg.scoring.tiers.healthy == 80 and cfg.scoring.tiers.at_risk == 50
    assert cfg.sources.sample is not None


def test_example_config_is_valid() -> None:
    cfg = load_config(Path(__file__).parents[2] / "pulse.example.yml")
    assert cfg.scoring.weights.seats == 20


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "scoring:\n  weigths:\n    usage: 10\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert f"{path}: unknown key 'scoring.weigths'" in str(exc.value)


def test_out_of_range_value_says_what_is_allowed(tmp_path: Path) -> None:
    path = _write(tmp_path, "scoring:\n  tiers:\n    healthy: 120\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    message = str(exc.value)
    assert "scoring.tiers.healthy" in message and str(path) in message
    assert "le 100" in message


def test_inconsistent_tiers_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "scoring:\n  tiers:\n    healthy: 40\n    at_risk: 60\n")
    with pytest.raises(ConfigError, match="at_risk must be lower than healthy"):
        load_config(path)


def test_learning_fields_are_read_and_a_field_named_twice_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "scoring:\n  learn:\n    categorical: [plan, custom.region]\n"
                            "    numeric: [tenure_days, seats]\n")
    learn = load_config(path).scoring.learn
    assert learn.categorical == ["plan", "custom.region"]
    assert learn.numeric == ["tenure_days", "seats"]
    twice = _write(tmp_path, "scoring:\n  learn:\n    categorical: [plan]\n"
                             "    numeric: [plan]\n")
    with pytest.raises(ConfigError, match=r"scoring.learn.*named both categorical and "
                       r"numeric, or twice: \['plan'\]"):
        load_config(twice)


def test_secret_in_file_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "database_url: postgresql://u:secret@db/pulse\n")
    with pytest.raises(ConfigError, match="DATABASE_URL environment variable"):
        load_config(path)


def test_database_url_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://localhost/pulse")
    cfg = load_config(_write(tmp_path, "workspace:\n  name: Acme CS\n"))
    assert cfg.database_url == "postgresql+psycopg://localhost/pulse"
    assert cfg.workspace.name == "Acme CS"


def test_missing_explicit_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_CONFIG", str(tmp_path / "nope.yml"))
    with pytest.raises(ConfigError, match="nope.yml: configuration file not found"):
        load_config()


def test_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(_write(tmp_path, "scoring: [unclosed\n"))


def test_plain_postgres_url_uses_installed_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://db.internal/pulse")
    cfg = load_config(_write(tmp_path, "{}\n"))
    assert cfg.database_url == "postgresql+psycopg://db.internal/pulse"


def test_metrics_settings_are_validated(tmp_path: Path) -> None:
    cfg = load_config(_write(tmp_path, "metrics:\n  stage_probabilities:\n    Pilot: 0.05\n"))
    assert cfg.metrics.stage_probabilities == {"Pilot": 0.05}  # replaces the defaults
    assert cfg.metrics.adoption_days == 4 and cfg.metrics.period_months == 12
    cases = {
        "metrics:\n  stage_probabilities:\n    Proposal: 1.5\n":
            "metrics.stage_probabilities.Proposal",
        "metrics:\n  stage_probabilities:\n    Proposal: 0.4\n    proposal : 0.5\n":
            "differ only in case",
        "metrics:\n  adoption_days: 40\n": "adoption_days cannot exceed adoption_window_days",
        "metrics:\n  default_stage_probability: -0.1\n": "metrics.default_stage_probability",
    }
    for text, message in cases.items():
        with pytest.raises(ConfigError, match=message):
            load_config(_write(tmp_path, text))
