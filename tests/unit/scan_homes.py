"""Fixture homes laid out as macOS, Linux and Windows machines, with a config for every catalog client.

Each client gets two servers: `leaky`, with one plaintext GitHub token in a place that rotates across
clients (env value, argument, header, URL query string, side env file), and `careful`, which refers to
its secret the right way (a reference form that must never be a finding). `EXPECTED` lists exactly
what a scan must report, so tests can compare whole sets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import tomlkit
import yaml

from toolhive_py.clients.catalog import CLIENTS, OS, Client

PLACEMENTS = ("env", "arg", "header", "url-query", "side-file")
REFERENCES = ("${input:gh-token}", "${env:GH_TOKEN}", "$GH_TOKEN", "{{ gh_token }}", "%GH_TOKEN%")
# Clients with a reference syntax of their own: opencode's {env:X}, Claude Code's ${X:-default}.
CLIENT_REFERENCES = {"opencode": "{env:GH_TOKEN}", "claude-code": "${GH_TOKEN:-}"}
SHARED_TOKEN = "ghp_" + "S" * 32 + "0000"  # used by two clients: same fingerprint in both places


# One provider per client after the first two, so every pattern is found in every file format. Built from
# parts, so no file in the repository holds a string a secret scanner would take for a real token.
PROVIDER_TOKENS: tuple[tuple[str, str], ...] = (
    ("github-token", "ghp_" + "a1B2" * 9),
    ("github-fine-grained-token", "github_pat_" + "11AB" * 5 + "_" + "x9Y8" * 15),
    ("anthropic-api-key", "sk-ant-api03-" + "Ab3_" * 20),
    ("openai-api-key", "sk-proj-" + "Zx8-" * 12),
    ("slack-token", "xoxb-" + "1234567890-" * 2 + "AbCdEfGh"),
    ("aws-access-key-id", "AKIA" + "Q7RZ" * 4),
    ("google-api-key", "AIza" + "Sy3_" * 8 + "abc"),
    ("huggingface-token", "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh"),
    ("npm-token", "npm_" + "n0P1" * 9),
    ("gitlab-token", "glpat-" + "Gl4b" * 5),
    ("stripe-secret-key", "sk_" + "live_" + "St9R" * 6),
    ("jwt", "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0" + ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
)


def provider_for(index: int) -> str:
    return "github-token" if index in (0, 1) else PROVIDER_TOKENS[index % len(PROVIDER_TOKENS)][0]


def token_for(index: int) -> str:
    return SHARED_TOKEN if index in (0, 1) else PROVIDER_TOKENS[index % len(PROVIDER_TOKENS)][1]


def _generic(index: int, client_id: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(leaky entry, careful entry, expected secret location) in a neutral shape."""
    token, placement = token_for(index), PLACEMENTS[index % len(PLACEMENTS)]
    reference = CLIENT_REFERENCES.get(client_id, REFERENCES[index % len(REFERENCES)])
    careful = {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github@2025.4.8"],
               "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": reference}}
    if placement == "env":
        return ({"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
                 "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": token}}, careful, "env:GITHUB_PERSONAL_ACCESS_TOKEN")
    if placement == "arg":
        return ({"command": "uvx", "args": ["mcp-github==1.0.0", "--token", token]}, careful, "arg:2")
    if placement == "header":
        return ({"url": "https://api.example.com/mcp", "headers": {"Authorization": f"Bearer {token}"}}, careful,
                "header:Authorization")
    if placement == "url-query":
        return ({"url": f"https://api.example.com/mcp?api_key={token}"}, careful, "url-query:api_key")
    return ({"command": "docker", "args": ["run", "-i", "--rm", "ghcr.io/github/github-mcp-server"],
             "envFile": "leaky.env"}, careful, "file:{dir}/leaky.env:GITHUB_PERSONAL_ACCESS_TOKEN")


def _shape(client: Client, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A neutral entry in the client's own shape."""
    shaped = dict(entry)
    if client.id in ("vscode", "vscode-insiders", "claude-code"):
        shaped["type"] = "http" if "url" in entry else "stdio"
    if "url" in entry and client.entry_key != "url":
        shaped[client.entry_key] = shaped.pop("url")
    if client.id == "goose":
        shaped = {"name": name, "enabled": True, "timeout": 300, **{
            {"command": "cmd", "env": "envs", "url": "uri"}.get(k, k): v for k, v in shaped.items()}}
        shaped["type"] = "streamable_http" if "uri" in shaped else "stdio"
    if client.id == "opencode":
        if "command" in shaped:
            shaped = {"type": "local", "command": [shaped.pop("command"), *shaped.pop("args", [])],
                      **({"environment": shaped.pop("env")} if "env" in shaped else {}), **shaped}
        else:
            shaped = {"type": "remote", **shaped}
    if client.id == "continue":
        shaped = {"name": name, **shaped}
    return shaped


def _document(client: Client, servers: dict[str, dict[str, Any]], index: int) -> str:
    location = client.locations[0]
    if location.servers_kind == "list":
        body: Any = list(servers.values())
    elif client.id == "codex":  # Codex's reference form for a bearer token is the *name* of a variable
        body = {k: v for k, v in servers.items()}
        careful = body["careful"]
        careful.pop("env")
        careful["bearer_token_env_var"] = "GITHUB_PAT"
    else:
        body = servers
    document: dict[str, Any] = {"theme": "dark"}
    node = document
    for key in location.servers_key[:-1]:
        node = node.setdefault(key, {})
    node[location.servers_key[-1]] = body
    if location.format == "toml":
        return tomlkit.dumps(document)
    if location.format == "yaml":
        return "# managed by hand\n" + yaml.safe_dump(document, sort_keys=False)
    text = json.dumps(document, indent=2)
    if location.format == "jsonc":
        text = "// settings\n" + text.replace('"theme": "dark",', '"theme": "dark", // trailing comment', 1)
    return ("\ufeff" if index == 3 else "") + text + "\n"


def build_home(root: Path, os_name: OS) -> tuple[Path, set[tuple[str, str, str, str]]]:
    """Write a home for ``os_name``; returns it and the exact (client, server, provider, location) findings."""
    home = root / f"home-{os_name}"
    expected: set[tuple[str, str, str, str]] = set()
    for index, client in enumerate(CLIENTS):
        path = client.locations[0].resolve(os_name, home)
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        leaky, careful, where = _generic(index, client.id)
        if where.startswith("file:"):
            (path.parent / "leaky.env").write_text(f"# side file\nGITHUB_PERSONAL_ACCESS_TOKEN={token_for(index)}\n")
            where = where.format(dir=path.parent)
        servers = {"leaky": _shape(client, "leaky", leaky), "careful": _shape(client, "careful", careful)}
        path.write_text(_document(client, servers, index), encoding="utf-8")
        expected.add((client.id, "leaky", provider_for(index), where))
    return home, expected
