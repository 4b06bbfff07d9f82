"""`pulse config example`: the annotated ``pulse.example.yml``, written from the config model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pulse.cli.common import console, output_path


def example_command(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of printing it."),
    ] = None,
) -> None:
    """Every key of pulse.yml with its default and what it does (`make example-config`
    writes it to pulse.example.yml)."""
    from pulse.kernel.config.example import render_example

    output = output_path(output, "--output")
    text = render_example()
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text)
    console.print(f"Wrote {output} ({len(text.splitlines())} lines).", highlight=False)
