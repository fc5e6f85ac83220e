"""Subcommands of `telecorr`, one module per area; pipeline/cli.py assembles them."""
