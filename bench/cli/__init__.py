"""The `gan-bench` command line (typer)."""

from bench.cli.app import app, main

__all__ = ["app", "main"]
