"""Command-line interface (Typer). Commands import heavy modules lazily, inside the command."""
