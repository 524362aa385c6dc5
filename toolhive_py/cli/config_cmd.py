"""``mcpctl config``: read and change user settings."""

from __future__ import annotations

import typer

from toolhive_py.cli import options
from toolhive_py.cli._state import get_state
from toolhive_py.cli.output import print_json, print_table, say

__all__ = ["app"]

app = typer.Typer(help="Read and change user settings (config.toml).", no_args_is_help=True)


@app.command("get")
def get(ctx: typer.Context, key: str, json_output: bool = options.JSON) -> None:
    """Print one setting."""
    from toolhive_py.config import Settings

    value = Settings(get_state(ctx).paths.settings_file).get(key)
    if json_output:
        print_json("config get", {"key": key, "value": value})
    elif value is not None:
        say(value)


@app.command("set")
def set_(ctx: typer.Context, key: str, value: str) -> None:
    """Change one setting."""
    from toolhive_py.config import Settings

    Settings(get_state(ctx).paths.settings_file).set(key, value)
    say(f"{key} = {value}")


@app.command("unset")
def unset(ctx: typer.Context, key: str) -> None:
    """Remove one setting, falling back to its default."""
    from toolhive_py.config import Settings

    removed = Settings(get_state(ctx).paths.settings_file).unset(key)
    say(f"{key} unset" if removed else f"{key} was not set")


@app.command("list")
def list_(ctx: typer.Context, json_output: bool = options.JSON) -> None:
    """Show every known setting, its value and what it does."""
    from toolhive_py.config import SETTINGS, Settings

    settings = Settings(get_state(ctx).paths.settings_file)
    values = settings.items()
    if json_output:
        print_json(
            "config list",
            {"file": str(settings.path), "settings": [{"key": k, "value": v, "description": SETTINGS[k].description}
                                                        for k, v in values.items()]},
        )
        return
    print_table(None, ["KEY", "VALUE", "DESCRIPTION"], [(k, v or "-", SETTINGS[k].description) for k, v in values.items()])
