"""Importing ToolHive registries and MCP registry server.json documents, then signing and trusting them."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli
from toolhive_py.errors import ExitCode

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "importers"


def test_toolhive_registry_imports_images_env_and_permissions(tmp_path: Path) -> None:
    out = tmp_path / "imported.json"
    result = run_cli("registry", "import", "--from", "toolhive", str(FIXTURES / "toolhive-registry.json"),
                     "--out", str(out))
    assert result.exit_code == 0, result.stderr
    keys = tmp_path / "keys"
    assert run_cli("registry", "keygen", "--out", str(keys), "--name", "k").exit_code == 0
    assert run_cli("registry", "sign", str(out), "--key", str(keys / "k.key")).exit_code == 0
    assert run_cli("registry", "add", "th", str(out), "--pubkey", str(keys / "k.pub"), "--priority", "5").exit_code == 0
    github = run_cli("info", "th/github", "--json").json()["data"]
    assert github["image"] == "ghcr.io/github/github-mcp-server:v0.30.3"
    assert github["tier"] == "official"
    assert github["env_vars"][0] == {"name": "GITHUB_PERSONAL_ACCESS_TOKEN", "description": "token",
                                     "required": True, "secret": True, "default": None}
    assert github["permissions"]["network"]["outbound"]["allow_host"] == [".github.com"]
    osv = run_cli("info", "th/osv", "--json").json()["data"]
    assert (osv["transport"], osv["target_port"]) == ("streamable-http", 8080)


def test_mcp_registry_server_json_becomes_a_package_entry() -> None:
    result = run_cli("registry", "import", "--from", "mcp-registry", str(FIXTURES / "mcp-server.json"))
    assert result.exit_code == 0, result.stderr
    import json

    document = json.loads(result.stdout)
    entry = document["servers"]["everything"]
    assert entry["package"] == "npx://@modelcontextprotocol/server-everything@2026.1.26"
    assert entry["env_vars"][0]["secret"] is True
    assert entry["repository_url"] == "https://github.com/modelcontextprotocol/servers"


def test_import_of_the_wrong_format_is_a_clear_error() -> None:
    result = run_cli("registry", "import", "--from", "mcp-registry", str(FIXTURES / "toolhive-registry.json"))
    assert result.exit_code == ExitCode.ERROR
    assert "not an MCP registry server.json" in result.stderr
    assert run_cli("registry", "import", "--from", "nope", str(FIXTURES / "mcp-server.json")).exit_code == ExitCode.USAGE


def test_import_refuses_a_device_a_huge_file_and_binary_with_a_message(tmp_path: Path) -> None:
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")
    huge = tmp_path / "huge.json"
    with huge.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # sparse: past the 32 MiB registry cap, nothing on disk
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"{\"a\": \"\xff\"}")
    for path, message in ((zero, "not a regular file"), (huge, "larger than"), (binary, "not UTF-8")):
        result = run_cli("registry", "import", "--from", "toolhive", str(path))
        assert result.exit_code == ExitCode.ERROR, path
        assert message in result.stderr, path
