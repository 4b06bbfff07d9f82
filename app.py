"""Entry point: `python app.py ...` is the same as the `pulse` console script."""

from pulse.cli.main import app

if __name__ == "__main__":
    app()
