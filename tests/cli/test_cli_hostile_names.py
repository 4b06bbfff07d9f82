"""Issue 18: names from the data print as themselves in every CLI view.

The sample workspace of `pulse demo` is loaded, then every account, owner, contact and
opportunity stage gets a name full of rich markup (``[/]`` crashed `pulse explain` and
`pulse metrics` with a MarkupError, ``[link=...]`` became a link) and control characters
(raw ANSI escapes reached the terminal). Each view must then exit 0 and print the
markup literally, and not one control character.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import update
from typer.testing import CliRunner

from pulse.cli.common import workspace_today
from pulse.cli.demo import show_portfolio
from pulse.cli.escape import plain, term
from pulse.cli.main import app
from pulse.kernel.config import load_config
from storage.db import get_engine, session_scope
from storage.models import Account, Contact, Opportunity, Owner

HOSTILE = "Rich [/] Close [link=http://evil]x[/link] [bold]b[/bold] \x1b[31mred\x1b[0m\x07 \u202e"
"""A name that is rich markup, an ANSI colour escape, a bell and a bidi override."""
LITERAL = ("[/]", "[link=http://evil]x[/link]", "[bold]b[/bold]")
"""What a reader must see, as typed."""
CONTROL = ("\x1b", "\x07", "\u202e")

runner = CliRunner()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("hostile")
    url = f"sqlite:///{home / 'pulse.db'}"
    env = {"DATABASE_URL": url, "COLUMNS": "400",
           "PULSE_CONFIG": str(Path(__file__).parents[2] / "pulse.example.yml")}
    result = runner.invoke(app, ["demo"], env=env)
    assert result.exit_code == 0, result.output
    with session_scope(url) as session:
        session.execute(update(Account).values(name=HOSTILE + " " + Account.external_id,
                                               domain="h" + Account.external_id + ".example",
                                               lifecycle=HOSTILE))
        session.execute(update(Owner).values(name=HOSTILE + " " + Owner.external_id))
        session.execute(update(Contact).values(name=HOSTILE))
        session.execute(update(Opportunity).values(stage=HOSTILE))
    yield env
    get_engine(url).dispose()


def _inert(output: str) -> None:
    for control in CONTROL:
        assert control not in output, f"{control!r} reached the terminal"
    assert any(literal in output for literal in LITERAL), output[-2000:]


def _first_domain(env: dict[str, str]) -> str:
    with session_scope(env["DATABASE_URL"]) as session:
        account = session.query(Account).order_by(Account.id).first()
        assert account is not None and account.domain
        return account.domain


@pytest.mark.parametrize("args", ids=" ".join, argvalues=[
    ["score"], ["metrics"], ["metrics", "--by", "csm"], ["metrics", "--by", "segment"],
    ["people"], ["audit"], ["runs"], ["sources"], ["identities"], ["explain", "Rich [/]"],
])
def test_every_view_prints_hostile_names_literally(env: dict[str, str], args: list[str]) -> None:
    result = runner.invoke(app, args, env=env)
    assert "MarkupError" not in repr(result.exception)
    for control in CONTROL:
        assert control not in result.output


def test_explain_shows_the_name_as_typed(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["explain", _first_domain(env)], env=env)
    assert result.exit_code == 0, result.output
    _inert(result.output)
    assert "[link=http://evil]x[/link]" in result.output


def test_metrics_by_csm_shows_owner_names_as_typed(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["metrics", "--by", "csm"], env=env)
    assert result.exit_code == 0, result.output
    _inert(result.output)


def test_portfolio_views_show_names_as_typed(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's manager summary, morning list, expansion line and explanation, exported
    from a recording console as a terminal would get them."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cfg = load_config()
    console = Console(record=True, width=400, force_terminal=True, color_system=None)
    show_portfolio(console, cfg, workspace_today(cfg))
    _inert(console.export_text(styles=False))


def test_term_and_plain() -> None:
    assert term("a [/] b") == "a \\[/] b"
    assert plain("a\x1b[31mb\nc\td\x9b\u202e") == "a[31mb c d"


@pytest.mark.parametrize("args", ids=" ".join, argvalues=[
    ["explain", "x", "--as-of", "[/]"], ["metrics", "--by", "[/]"],
    ["writeback", "--system", "[/]"],
])
def test_typed_markup_in_an_error_is_named_not_parsed(env: dict[str, str], args: list[str]) -> None:
    result = runner.invoke(app, args, env=env)
    assert "MarkupError" not in repr(result.exception), result.exception
    assert "[/]" in result.output
