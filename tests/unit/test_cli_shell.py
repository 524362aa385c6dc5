from __future__ import annotations

import subprocess
import sys

from tests.helpers import run_cli
from toolhive_py import __version__
from toolhive_py.errors import ExitCode


def test_version_prints_package_version() -> None:
    result = run_cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"mcpctl {__version__}"


def test_config_set_get_unset_roundtrip() -> None:
    assert run_cli("config", "set", "secrets.backend", "vault").exit_code == 0
    assert run_cli("config", "get", "secrets.backend").stdout.strip() == "vault"
    assert run_cli("config", "get", "secrets.backend", "--json").json()["data"] == {
        "key": "secrets.backend",
        "value": "vault",
    }
    assert run_cli("config", "unset", "secrets.backend").exit_code == 0
    assert run_cli("config", "get", "secrets.backend").stdout.strip() == ""


def test_config_rejects_unknown_key_with_hint() -> None:
    result = run_cli("config", "set", "nope.key", "x")
    assert result.exit_code == ExitCode.USAGE
    assert "Unknown setting 'nope.key'" in result.stderr
    assert "Hint:" in result.stderr


def test_config_rejects_bad_choice() -> None:
    result = run_cli("config", "set", "secrets.backend", "floppy")
    assert result.exit_code == ExitCode.USAGE
    assert "keyring, vault, env" in result.stderr


def test_error_with_json_prints_error_envelope() -> None:
    result = run_cli("config", "get", "nope.key", "--json")
    assert result.exit_code == ExitCode.USAGE
    envelope = result.json()
    assert envelope["status"] == "error"
    assert envelope["errors"][0]["code"] == "unknown-setting"


def test_corrupt_settings_file_is_reported_and_kept(isolated_home) -> None:  # type: ignore[no-untyped-def]
    settings = isolated_home / ".config" / "mcpctl" / "config.toml"
    settings.parent.mkdir(parents=True)
    settings.write_bytes(b"[runtime\nsocket = 1")
    result = run_cli("config", "list")
    assert result.exit_code == ExitCode.ERROR
    assert str(settings) in result.stderr
    assert settings.read_bytes() == b"[runtime\nsocket = 1"


def test_settings_keep_user_comments(isolated_home) -> None:  # type: ignore[no-untyped-def]
    settings = isolated_home / ".config" / "mcpctl" / "config.toml"
    settings.parent.mkdir(parents=True)
    settings.write_text("# my notes\n[runtime]\nsocket = \"unix:///x.sock\"  # podman\n")
    assert run_cli("config", "set", "secrets.backend", "env").exit_code == 0
    text = settings.read_text()
    assert "# my notes" in text
    assert "# podman" in text
    assert 'backend = "env"' in text


def test_python_dash_m_runs_the_cli() -> None:
    out = subprocess.run([sys.executable, "-m", "toolhive_py", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"mcpctl {__version__}"


def test_help_stays_cheap_it_imports_no_engine_protocol_or_model_code() -> None:
    """`mcpctl --help` and each command's --help load only the CLI: docker, mcp, uvicorn, httpx, hvac and the
    pydantic registry models are imported by the commands that use them (DESIGN.md: lazy imports)."""
    heavy = ("docker", "mcp", "uvicorn", "httpx", "hvac", "toolhive_py.registry.models", "toolhive_py.runtime.spec",
             "toolhive_py.proxy.mux")
    probe = ("import sys\nfrom toolhive_py.cli import main\nfor argv in (['--help'], ['run', '--help'], "
             "['tools', '--help'], ['scan', '--help']):\n    try:\n        main(argv)\n    except SystemExit:\n"
             "        pass\nprint('loaded:', *(m for m in " + repr(heavy) + " if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "loaded:"
