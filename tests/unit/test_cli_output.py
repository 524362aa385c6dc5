"""Untrusted strings (audit records, registry descriptions, names) reach the terminal as text: no rich markup,
no control sequences (issue: a client named ``[/oops]`` crashed `mcpctl audit`)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_cli
from tests.unit.registry_fixtures import server, write_signed
from toolhive_py.cli.output import as_text, clean
from toolhive_py.config import Paths
from toolhive_py.registry import minisign

HOSTILE = ("[/oops]", "[link=https://evil.example]click[/link]", "[white on white]hidden[/]",
           "\x1b]8;;https://evil.example\x07osc\x1b]8;;\x07", "\x1b[2Jcleared", "c1\x9bcsi")


def test_clean_drops_c0_c1_and_escape_sequences_but_keeps_text_and_newlines() -> None:
    assert clean("a\x1b[31mred\x07\x9b\x00b\nc\td") == "a[31mredb\nc\td"


def test_as_text_renders_markup_literally() -> None:
    from rich.console import Console

    console = Console(record=True, width=200, color_system=None)
    for text in HOSTILE:
        console.print(as_text(text), highlight=False)
    shown = console.export_text()
    assert "[/oops]" in shown
    assert "[link=https://evil.example]click[/link]" in shown
    assert "\x1b" not in shown
    assert "\x9b" not in shown


def test_audit_shows_hostile_client_names_as_text(tmp_path: Path) -> None:
    log = Paths.from_env().workloads_dir / "srv" / "audit.jsonl"
    log.parent.mkdir(parents=True)
    records = [{"time": "2026-12-01T00:00:00Z", "client_name": name, "client_version": "1", "method": "tools/call",
                "target": name, "duration_ms": 1.0, "outcome": "ok"} for name in HOSTILE]
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = run_cli("audit", "srv")
    assert result.exit_code == 0, result.stderr
    assert "[/oops]" in result.stdout
    assert "[white on white]hidden[/]" in result.stdout
    assert "\x1b" not in result.stdout
    assert "\x07" not in result.stdout


def test_search_and_info_show_hostile_registry_text_as_text(tmp_path: Path) -> None:
    pair = minisign.generate_keypair()
    pub = tmp_path / "acme.pub"
    pub.write_text(pair.public.to_file_text())
    description = "Fine [/] [link=https://evil.example]x[/link] \x1b[8mhidden\x1b[0m"
    path = write_signed(tmp_path / "registry.json", {"widget": server(description=description,
                                                                     tools=["[/oops]"])}, pair.secret)
    assert run_cli("registry", "add", "acme", str(path), "--pubkey", str(pub)).exit_code == 0
    for command in (("search", "widget"), ("info", "acme/widget")):
        result = run_cli(*command)
        assert result.exit_code == 0, result.stderr
        assert "[link=https://evil.example]x[/link]" in result.stdout
        assert "\x1b" not in result.stdout
    assert "[/oops]" in run_cli("info", "acme/widget").stdout


def test_search_without_a_query_lists_every_server() -> None:
    every = run_cli("search", "--json").json()["data"]
    assert len(every) >= 25
    assert {s["name"] for s in every} >= {"time", "github"}


def test_info_shows_the_package_source_beside_the_image() -> None:
    entry = run_cli("info", "context7", "--json").json()["data"]  # an entry with both (time is package-only)
    assert entry["image"]
    assert entry["package"]
    shown = run_cli("info", "context7").stdout
    assert entry["package"] in shown
    assert entry["image"] in shown


def test_the_value_a_user_copies_is_whole_at_80_columns() -> None:
    log = Paths.from_env().workloads_dir / "srv" / "audit.jsonl"
    log.parent.mkdir(parents=True)
    record = {"time": "2026-12-01T10:11:12.345678Z", "client_name": "a-client-with-a-rather-long-name " * 3,
              "client_version": "1.2.3", "method": "tools/call", "target": "some_tool_with_a_long_name" * 2,
              "duration_ms": 12.5, "outcome": "ok"}
    log.write_text(json.dumps(record) + "\n")
    result = run_cli("audit", "srv", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    assert "2026-12-01T10:11:12.345678Z" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_client_list_shows_whole_config_paths_at_80_columns() -> None:
    result = run_cli("client", "list", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    paths = [c["config"] for c in run_cli("client", "list", "--json").json()["data"] if c["config"]]
    assert paths
    assert all(path in result.stdout for path in paths)
