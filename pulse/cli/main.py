"""The `pulse` command line: the one place that assembles the app from its commands.

Commands live by group (``data``, ``people``, ``score``, ``serve``, ``runs``, ``crm``,
``backtest``, ``metrics``, ``config``) and share ``pulse.cli.common``; each parses, calls a
service, and renders. They are registered here in the order `pulse --help` lists them.
Building the app imports no data library, database model or Slack SDK: commands import
those when they run. An expected failure of any command ends in one line
(``pulse.cli.errors``; ``pulse --debug`` adds the traceback).
"""

from __future__ import annotations

import typer

from pulse.cli import backtest, config, crm, data, metrics, people, runs, score, serve
from pulse.cli.errors import ReportingGroup, debug_option

app = typer.Typer(
    cls=ReportingGroup,
    no_args_is_help=True,
    add_completion=False,
    help="Pulse: customer health.",
    pretty_exceptions_show_locals=False,  # a local may hold a token
)
app.callback()(debug_option)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
db_app.command("upgrade")(data.db_upgrade)

app.command("sync")(data.sync)
app.command("sources")(data.sources)
app.command("score")(score.score)
app.command("explain")(score.explain)
app.command("demo")(score.demo)
app.command("serve")(serve.serve)
app.command("digest")(score.digest)
app.command("alerts")(score.alerts_command)
app.command("identities")(data.identities)
app.command("people")(people.people_command)

crm_app = typer.Typer(no_args_is_help=True, help="The CRM Pulse writes health to.")
app.add_typer(crm_app, name="crm")
crm_app.command("check")(crm.crm_check)
app.command("writeback")(crm.writeback)

app.command("run")(runs.run_command)
app.command("runs")(runs.runs_command)
app.command("scheduler")(serve.scheduler_command)
app.command("playbooks")(runs.playbooks_command)
app.command("audit")(runs.audit_command)
app.command("backtest")(backtest.backtest_command)
app.command("tune")(backtest.tune_command)
app.command("metrics")(metrics.metrics_command)

config_app = typer.Typer(no_args_is_help=True, help="The pulse.yml settings.")
app.add_typer(config_app, name="config")
config_app.command("example")(config.example_command)

if __name__ == "__main__":  # pragma: no cover - `python -m pulse.cli.main`
    app()
