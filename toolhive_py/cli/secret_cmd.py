"""``mcpctl secret …``: manage secrets in the keyring, Vault or the environment.

A value is read from a hidden prompt (on a terminal) or from stdin — never from argv, where any
process on the machine could read it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from toolhive_py.cli import options
from toolhive_py.cli._state import get_state
from toolhive_py.cli.completion import secret_names
from toolhive_py.cli.output import print_json, print_table, say
from toolhive_py.secrets.base import BACKENDS

if TYPE_CHECKING:
    from toolhive_py.secrets import SecretProvider

__all__ = ["app", "register"]

app = typer.Typer(help="Store secrets for servers; values never touch argv, logs or configs.", no_args_is_help=True)



def _provider(ctx: typer.Context, backend: str | None) -> SecretProvider:
    from toolhive_py.secrets import open_provider

    return open_provider(get_state(ctx).paths, backend)


def _mask(value: str) -> str:
    return "****" if len(value) < 8 else value[:2] + "****"


@app.command("set")
def set_(ctx: typer.Context, name: str, backend: str | None = options.BACKEND) -> None:
    """Store a secret, read from a hidden prompt or from stdin (`printf %s "$TOKEN" | mcpctl secret set NAME`)."""
    from toolhive_py.errors import UsageError
    from toolhive_py.secrets import check_secret_name

    check_secret_name(name)
    provider = _provider(ctx, backend)
    if sys.stdin.isatty():
        value = str(typer.prompt(f"Value for {name}", hide_input=True, confirmation_prompt=True))
    else:
        value = sys.stdin.read()
        value = value[:-1] if value.endswith("\n") else value
        value = value[:-1] if value.endswith("\r") else value
    if not value:
        raise UsageError("Refusing to store an empty secret.", hint="Pipe the value on stdin or type it at the prompt.")
    provider.set(name, value)
    say(f"Stored {name} in the {provider.name} backend.")


@app.command("get")
def get(ctx: typer.Context, name: str = typer.Argument(..., autocompletion=secret_names), reveal: bool = typer.Option(False, "--reveal", help="Print the value."),
        backend: str | None = options.BACKEND, json_output: bool = options.JSON) -> None:
    """Show a secret, masked unless --reveal."""
    from toolhive_py.errors import NotFoundError

    provider = _provider(ctx, backend)
    value = provider.get(name)
    if value is None:
        raise NotFoundError(f"No secret named {name!r} in the {provider.name} backend.",
                            hint=f"Store it with `mcpctl secret set {name}`.", code="secret-missing")
    shown = value if reveal else _mask(value)
    if json_output:
        print_json("secret get", {"name": name, "backend": provider.name, "value": shown, "masked": not reveal})
    else:
        typer.echo(shown)


@app.command("list")
def list_(ctx: typer.Context, backend: str | None = options.BACKEND, json_output: bool = options.JSON) -> None:
    """List secret names (never values)."""
    from toolhive_py.credentials import is_credential_secret

    provider = _provider(ctx, backend)
    names = [n for n in provider.list_names() if not is_credential_secret(n)]  # proxy tokens: `mcpctl client`
    if json_output:
        print_json("secret list", {"backend": provider.name, "names": names})
    elif names:
        print_table(None, ["NAME", "BACKEND"], [(n, provider.name) for n in names])
    else:
        say(f"No secrets in the {provider.name} backend.", err=True)


@app.command("delete")
def delete(ctx: typer.Context, name: str = typer.Argument(..., autocompletion=secret_names), backend: str | None = options.BACKEND) -> None:
    """Delete a secret."""
    from toolhive_py.errors import NotFoundError

    provider = _provider(ctx, backend)
    if not provider.delete(name):
        raise NotFoundError(f"No secret named {name!r} in the {provider.name} backend.", code="secret-missing")
    say(f"Deleted {name}.")


@app.command("backend")
def backend_(ctx: typer.Context, choice: str | None = typer.Argument(None, help=" | ".join(BACKENDS))) -> None:
    """Show or set the default secret backend."""
    from toolhive_py.config import Settings
    from toolhive_py.secrets import DEFAULT_BACKEND

    settings = Settings(get_state(ctx).paths.settings_file)
    if choice is None:
        say(settings.get("secrets.backend") or DEFAULT_BACKEND)
        return
    settings.set("secrets.backend", choice)
    say(f"Default secret backend: {choice}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="secret")
