"""`python -m pulse.cli ...` is the same as the `pulse` console script."""

from pulse.cli.main import app

app(prog_name="pulse")
