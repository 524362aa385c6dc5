"""``mcpctl registry …`` plus the top-level ``search`` and ``info`` aliases."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from toolhive_py.cli import options
from toolhive_py.cli._state import get_state
from toolhive_py.cli.completion import server_names
from toolhive_py.cli.output import print_json, print_table, say

if TYPE_CHECKING:
    from toolhive_py.registry import FoundServer, RegistryStore
    from toolhive_py.registry.models import ServerEntry

__all__ = ["app", "register"]

_QUERY = typer.Argument("", help="Words to look for; every server when left out.")

app = typer.Typer(help="Signed server registries: list, search, verify, add, sign.", no_args_is_help=True)

def _store(ctx: typer.Context) -> RegistryStore:
    from toolhive_py.registry import RegistryStore

    return RegistryStore(get_state(ctx).paths)


def _server_summary(found: FoundServer) -> dict[str, Any]:
    entry = found.entry
    return {
        "name": found.name,
        "registry": found.registry,
        "description": entry.description,
        "source": entry.source,
        "transport": entry.transport,
        "tier": entry.tier,
        "status": entry.status,
        "verified": found.verified,
    }


def _render_servers(command: str, servers: list[FoundServer], json_output: bool) -> None:
    if json_output:
        print_json(command, [_server_summary(f) for f in servers])
        return
    if not servers:
        say("No servers match.", err=True)
        return
    print_table(
        None,
        ["NAME", "REGISTRY", "TRANSPORT", "TIER", "DESCRIPTION"],
        [
            (f.name if f.preferred else f.qualified_name, f.registry + ("" if f.verified else " (unverified)"),
             f.entry.transport, f.entry.tier,
             f.entry.description[:70] + ("…" if len(f.entry.description) > 70 else ""))
            for f in servers
        ],
    )


def _pins(entry: ServerEntry) -> str:
    lock = entry.package_lock
    if lock is None:
        return "none: a local build installs whatever the index serves for this version"
    if lock.npm:
        return f"{len(lock.npm)} npm packages by integrity (npm ci)"
    return f"{len(lock.requirements)} wheels by sha256 for Python {lock.python} (pip --require-hashes)"


def _runs(entry: ServerEntry) -> str:
    """Which source `run` uses: the image, else the package built locally (never when a digest is pinned)."""
    if entry.image is None:
        return "the package, built locally"
    if entry.package is None or entry.digest is not None:
        return "the image"
    return "the image; the package, built locally, when the image cannot be pulled"


def _show(ctx: typer.Context, name: str, json_output: bool, command: str) -> None:
    found = _store(ctx).find(name)
    entry = found.entry
    if json_output:
        print_json(command, {"name": found.name, "registry": found.registry, "verified": found.verified,
                             **entry.model_dump(mode="json"), "runs": _runs(entry)})
        return
    say(f"{found.name}  ({found.registry}{'' if found.verified else ', unverified'})", bold=True)
    if found.shadows_builtin:
        say(f"{found.registry} takes over this built-in name; the built-in entry is default/{found.name}.",
            mark="warning")
    elif found.also_in:
        say(f"also in {', '.join(found.also_in)} (name REGISTRY/{found.name} to see another)", mark="warn")
    say(entry.description)
    rows = [
        *((("image", entry.image),) if entry.image else ()),
        *((("package", entry.package),) if entry.package else ()),
        *((("package pins", _pins(entry)),) if entry.package else ()),
        ("digest", entry.digest or "-"),
        ("runs", _runs(entry)),
        ("transport", entry.transport + (f" (port {entry.target_port})" if entry.target_port else "")),
        ("tier / status", f"{entry.tier} / {entry.status}"),
        ("repository", entry.repository_url or "-"),
        ("tools", ", ".join(entry.tools) or "-"),
    ]
    outbound = entry.permissions.network.outbound
    egress = "any host (insecure_allow_all)" if outbound.insecure_allow_all else (
        ", ".join(outbound.allow_host) + (f" ports {outbound.allow_port}" if outbound.allow_port else "")
        if outbound.allow_host else "none")
    rows.append(("network egress", egress))
    print_table(None, ["FIELD", "VALUE"], rows)
    if entry.env_vars:
        print_table(
            "Environment",
            ["NAME", "SECRET", "REQUIRED", "DESCRIPTION"],
            [(v.name, "yes" if v.secret else "", "yes" if v.required else "", v.description) for v in entry.env_vars],
        )


@app.command("list")
def list_(ctx: typer.Context, json_output: bool = options.JSON) -> None:
    """List trusted registries with their version, expiry and verification state."""
    store = _store(ctx)
    rows: list[dict[str, Any]] = []
    for result in store.verify():
        source = store.source(result.name)
        rows.append({
            "name": result.name,
            "source": source.source,
            "priority": source.priority,
            "shadow_builtin": source.shadow_builtin,
            "version": result.version,
            "expires": result.expires,
            "verified": result.ok,
            "servers": result.servers,
            "error": result.error,
        })
    if json_output:
        print_json("registry list", rows)
        return
    print_table(
        None,
        ["NAME", "PRIORITY", "VERSION", "EXPIRES", "SERVERS", "VERIFIED", "SOURCE"],
        [(r["name"], f"{r['priority']}{' (shadows built-in)' if r['shadow_builtin'] else ''}", r["version"] if r["version"] is not None else "-", (r["expires"] or "-")[:10],
          r["servers"] if r["servers"] is not None else "-",
          "yes" if r["verified"] else f"NO ({(r['error'] or {}).get('code', '')})", r["source"]) for r in rows],
    )


@app.command("search")
def search(ctx: typer.Context, query: str = _QUERY, json_output: bool = options.JSON) -> None:
    """Search servers of all trusted registries by name, description, tag or tool."""
    _render_servers("registry search", _store(ctx).search(query), json_output)


@app.command("show")
def show(ctx: typer.Context, name: str = typer.Argument(..., help="NAME or REGISTRY/NAME", autocompletion=server_names),
         json_output: bool = options.JSON) -> None:
    """Show one server: source, digest, transport, env vars, permissions, tools."""
    _show(ctx, name, json_output, "registry show")


@app.command("verify")
def verify(ctx: typer.Context, name: str | None = typer.Argument(None, help="One registry; all when omitted."),
           json_output: bool = options.JSON) -> None:
    """Verify signatures, rollback state and expiry; exits 3 on any failure."""
    from toolhive_py.errors import ExitCode

    results = _store(ctx).verify(name)
    failed = [r for r in results if not r.ok]
    if json_output:
        print_json("registry verify", [r.__dict__ for r in results], status="error" if failed else "ok",
                   errors=[{"registry": r.name, **(r.error or {})} for r in failed])
    else:
        for r in results:
            if r.ok:
                say(f"{r.name}: signature OK (key {r.key_id}), version {r.version}, {r.servers} servers, "
                    f"expires {r.expires}", mark="ok")
            else:
                err = r.error or {}
                say(f"{r.name}: {err.get('message')}", mark="fail", err=True)
                if err.get("hint"):
                    say(f"  Hint: {err['hint']}", err=True)
    if failed:
        raise typer.Exit(int(ExitCode.VERIFICATION))


@app.command("add")
def add(
    ctx: typer.Context,
    name: str,
    source: str = typer.Argument(..., help="Path or http(s) URL of a registry.json (its .minisig beside it)."),
    pubkey: str | None = typer.Option(None, "--pubkey", help="Minisign public key: a .pub file or its base64 line."),
    priority: int = typer.Option(10, "--priority", help="Higher wins when two registries share a server name."),
    insecure_skip_verify: bool = typer.Option(False, "--insecure-skip-verify",
                                              help="Trust an UNSIGNED registry. Its servers are marked unverified."),
    shadow_builtin: bool = typer.Option(False, "--shadow-builtin",
                                        help="Let this registry's servers win names the built-in registry also has "
                                             "(without it, a bare name keeps the built-in entry)."),
) -> None:
    """Pin a private registry's key; it must verify before it is saved."""
    key_text = None
    if pubkey is not None:
        key_path = Path(pubkey).expanduser()
        key_text = key_path.read_text(encoding="utf-8") if key_path.is_file() else pubkey
    if insecure_skip_verify:
        say("adding an UNSIGNED registry; anyone who can change its file controls what mcpctl runs.",
            mark="warning", err=True)
    if shadow_builtin:
        say(f"registry {name} takes over built-in server names it also lists; `mcpctl run NAME` will run its "
            "entries, and only `default/NAME` the built-in ones.", mark="warning", err=True)
    store = _store(ctx)
    info = store.add(name, source, public_key=key_text, priority=priority,
                     insecure_skip_verify=insecure_skip_verify, shadow_builtin=shadow_builtin)
    shared = store.names_shared_with_builtin(name)
    if shared and not shadow_builtin:
        say(f"{name} lists {', '.join(shared)}, as the built-in registry does; a bare name keeps the built-in entry: "
            f"use {name}/NAME for this registry's (or add it again with --shadow-builtin).", mark="warn", err=True)
    say(f"Added registry {name}: version {info.document.version}, {len(info.document.server_names)} servers"
        f"{', verified' if info.verified else ', UNVERIFIED'}.")


@app.command("remove")
def remove(ctx: typer.Context, name: str) -> None:
    """Forget a user registry (its highest seen version is kept, so an old copy stays refused)."""
    _store(ctx).remove(name)
    say(f"Removed registry {name}.")


@app.command("update")
def update(ctx: typer.Context, name: str | None = typer.Argument(None)) -> None:
    """Re-fetch URL registries and verify every registry again."""
    for info in _store(ctx).update(name):
        say(f"{info.source.name}: version {info.document.version}, {len(info.document.server_names)} servers")


@app.command("keygen")
def keygen(
    out: Path = typer.Option(..., "--out", help="Directory for NAME.key and NAME.pub."),
    name: str = typer.Option("registry", "--name"),
) -> None:
    """Create a minisign key pair (unencrypted secret key, like `minisign -G -W`)."""
    from toolhive_py.config import atomic_write
    from toolhive_py.errors import ConflictError
    from toolhive_py.registry import minisign

    key_path, pub_path = out / f"{name}.key", out / f"{name}.pub"
    for path in (key_path, pub_path):
        if path.exists():
            raise ConflictError(f"{path} exists already; refusing to overwrite a key.", hint="Pick another --name.")
    pair = minisign.generate_keypair()
    atomic_write(key_path, pair.secret.to_file_text().encode(), mode=0o600)
    atomic_write(pub_path, pair.public.to_file_text().encode(), mode=0o644)
    say(f"Wrote {key_path} (keep it secret) and {pub_path} (key id {pair.public.key_id_hex}).")


@app.command("sign")
def sign(
    file: Path,
    key: Path = typer.Option(..., "--key", help="Unencrypted minisign secret key file."),
    trusted_comment: str | None = typer.Option(None, "--trusted-comment"),
    allow_floating_tags: bool = typer.Option(False, "--allow-floating-tags",
                                             help="Sign even if an image is `:latest` or untagged (not pinned)."),
) -> None:
    """Validate a registry document and write FILE.minisig next to it. Images tagged `:latest` (or untagged)
    are refused: a signed entry must name what it runs."""
    from toolhive_py.config import atomic_write
    from toolhive_py.errors import VerificationError
    from toolhive_py.registry import minisign
    from toolhive_py.registry.models import parse_registry
    from toolhive_py.registry.pinning import floating_tags

    data = file.read_bytes()
    document = parse_registry(data, source=str(file))
    if floating := floating_tags(document):
        if not allow_floating_tags:
            raise VerificationError(
                f"{file}: {len(floating)} image(s) use a moving tag: {', '.join(floating)}.",
                hint="Name an exact version tag (and a digest where known), or pass --allow-floating-tags.",
                code="registry-floating-tag")
        say(f"signing {len(floating)} image(s) with a moving tag: {', '.join(floating)}", mark="warning", err=True)
    secret = minisign.parse_secret_key(minisign.read_text(key, "secret key"))
    signature = minisign.sign(data, secret, trusted_comment=trusted_comment)
    target = file.with_name(file.name + ".minisig")
    atomic_write(target, signature.to_file_text().encode(), mode=0o644)
    say(f"Signed {file} (version {document.version}, {len(document.servers)} servers) → {target}")


@app.command("pin")
def pin(
    name: str = typer.Argument(..., help="The server to pin."),
    file: Path = typer.Option(Path("registry.json"), "--file", help="The registry document to edit."),
    package: str | None = typer.Option(None, "--package", help="Set the package source first: uvx://N==V, npx://N@V."),
    python: str = typer.Option("3.11", "--python", help="uvx://: the Python X.Y of the base image builds use."),
    constraint: list[str] = typer.Option([], "--constraint",
                                         help="uvx://: a pip constraint such as 'mcp<2'; repeatable."),
    with_: list[str] = typer.Option([], "--with",
                                    help="uvx://: also lock this requirement (one a marker leaves out on this host)."),
    json_output: bool = options.JSON,
) -> None:
    """Resolve an entry's package source and write the hashes of all it installs into FILE (then re-sign it)."""
    from toolhive_py.registry.pinning import pin_in_file

    entry = pin_in_file(file, name, package=package, python=python, constraints=tuple(constraint),
                        extra=tuple(with_))
    lock = entry.package_lock
    count = len(lock.requirements or lock.npm) if lock else 0
    if json_output:
        print_json("registry pin", {"name": name, "package": entry.package, "files": count,
                                    "python": lock.python if lock else None})
        return
    say(f"Pinned {name}: {entry.package} and {count} locked file(s) in {file}. "
        f"Re-sign it: `mcpctl registry sign {file} --key KEY`.")


@app.command("import")
def import_(
    file: Path,
    from_format: str = typer.Option(..., "--from", help="toolhive | mcp-registry"),
    out: Path | None = typer.Option(None, "--out", help="Write here instead of stdout."),
    version: int = typer.Option(1, "--version", help="The new document's version."),
) -> None:
    """Convert a ToolHive registry or an MCP registry server.json into an (unsigned) mcpctl registry."""
    import json

    from toolhive_py.config import atomic_write
    from toolhive_py.registry.importers import import_document

    document = import_document(file, from_format, version=version)
    text = json.dumps(document.model_dump(mode="json", exclude_defaults=False), indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    atomic_write(out, text.encode(), mode=0o644)
    say(f"Wrote {out} with {len(document.servers)} servers; sign it with `mcpctl registry sign {out} --key KEY`.",
        err=True)


def register(root: typer.Typer) -> None:
    """Attach the registry group and its top-level aliases to the root app."""
    root.add_typer(app, name="registry")

    @root.command("search")
    def search_alias(ctx: typer.Context, query: str = _QUERY, json_output: bool = options.JSON) -> None:
        """Search servers in all trusted registries (alias of `registry search`)."""
        _render_servers("search", _store(ctx).search(query), json_output)

    @root.command("upgrade")
    def upgrade(ctx: typer.Context,
                check: bool = typer.Option(False, "--check", help="List what would change; change nothing."),
                socket: str | None = options.RUNTIME_SOCKET, json_output: bool = options.JSON) -> None:
        """Running workloads whose signed registry entry now pins another version, and what changed."""
        from toolhive_py.errors import UsageError
        from toolhive_py.upgrades import check_upgrades

        if not check:
            raise UsageError("`mcpctl upgrade` only checks for now: give --check.",
                             hint="To move a workload to the new pin: `mcpctl rm NAME` and `mcpctl run SERVER` again.")
        found = check_upgrades(get_state(ctx).paths, socket=socket)
        if json_output:
            print_json("upgrade", [item.to_dict() for item in found])
            return
        if not found:
            say("Every running workload runs what its registry entry pins.")
            return
        print_table(None, ["NAME", "SERVER", "RUNNING", "PINNED NOW", "CHANGES"],
                    [(i.name, i.server, i.running, i.pinned, "; ".join(i.changes)) for i in found])

    @root.command("info")
    def info_alias(ctx: typer.Context, name: str = typer.Argument(..., help="NAME or REGISTRY/NAME", autocompletion=server_names),
                   json_output: bool = options.JSON) -> None:
        """Show one server (alias of `registry show`)."""
        _show(ctx, name, json_output, "info")
