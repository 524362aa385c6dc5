"""The core lifecycle's pure decisions and the CLI's rendering of its results (no engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_cli
from toolhive_py.errors import EngineError, ExitCode, NotFoundError, UsageError
from toolhive_py.results import Failure, Status, overall
from toolhive_py.runtime.launch import RunOptions, RunTarget, parse_env_lines, parse_run_options, secret_requests
from toolhive_py.secrets import SecretRequest


def test_bulk_status_is_partial_when_some_items_fail() -> None:
    failure = Failure("b", NotFoundError("no b"))
    assert overall(2, ()) == (Status.OK, ExitCode.OK)
    assert overall(1, (failure,)) == (Status.PARTIAL, ExitCode.PARTIAL)


def test_bulk_status_takes_the_first_failures_own_exit_code_when_all_fail() -> None:
    assert overall(0, (Failure("a", EngineError("down")), Failure("b", NotFoundError("no b")))) == \
        (Status.ERROR, ExitCode.ENGINE)


def test_env_file_takes_export_quotes_and_comments() -> None:
    lines = ["# a comment", "", "export BAR=\"x y\"", "BAZ='lit $HOME \\n'", "PLAIN=v # note",
             "ESC=\"a\\\"b\\nc\"", "EMPTY="]
    assert parse_env_lines(lines, dotenv=True) == {
        "BAR": "x y", "BAZ": "lit $HOME \\n", "PLAIN": "v", "ESC": 'a"b\nc', "EMPTY": ""}


def test_env_flag_value_is_taken_as_written() -> None:
    assert parse_env_lines(["A='q' # not a comment"], dotenv=False) == {"A": "'q' # not a comment"}


@pytest.mark.parametrize("line", ["export", "NOEQUALS", "=value", "BAD KEY=1", "1X=2"])
def test_env_entries_that_are_not_a_variable_are_refused(line: str) -> None:
    with pytest.raises(UsageError):
        parse_env_lines([line], dotenv=True)


def _options(**overrides: object) -> RunOptions:
    values: dict[str, object] = {
        "name": None, "secrets": [], "env": [], "env_file": None, "volumes": [], "permission_profile": "default",
        "pull": "missing", "memory": "512m", "cpus": 1.0, "args": [], "port": None, "tools": None,
        "deny_tools": None, "rate_limit": None}
    values.update(overrides)
    return parse_run_options(**values)  # type: ignore[arg-type]


def test_a_token_given_with_e_is_refused_with_the_secret_hint() -> None:
    with pytest.raises(UsageError) as caught:
        _options(env=["GITHUB_TOKEN=ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"])
    assert caught.value.code == "secret-in-env"
    assert "--secret GITHUB_TOKEN" in (caught.value.hint or "")
    assert "ghp_" not in caught.value.message + (caught.value.hint or "")


def test_ordinary_settings_pass_through_e() -> None:
    assert dict(_options(env=["LOG_LEVEL=debug", "BASE_URL=https://api.example.com"]).env) == {
        "LOG_LEVEL": "debug", "BASE_URL": "https://api.example.com"}


def test_an_unreadable_env_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        _options(env_file=tmp_path / "missing.env")


def test_secret_flags_stay_secret_requests_and_entry_secrets_are_marked_declared() -> None:
    from toolhive_py.registry.models import ServerEntry

    entry = ServerEntry.model_validate({
        "description": "d", "image": "example/x:1", "transport": "stdio",
        "env_vars": [{"name": "API_KEY", "description": "k", "secret": True, "required": True},
                     {"name": "OTHER_TOKEN", "description": "k", "secret": True, "required": True}]})
    target = RunTarget(server="x", image="example/x:1", vetted=True, registry="builtin", entry=entry)
    options = RunOptions(secrets=(SecretRequest("mine", "API_KEY"),))
    assert secret_requests(target, options) == [SecretRequest("mine", "API_KEY"),
                                                SecretRequest("OTHER_TOKEN", "OTHER_TOKEN", declared=True)]


def test_error_envelope_names_the_command_path_never_argument_values() -> None:
    result = run_cli("run", "missing-server", "-e", "API_KEY=abc123", "--json")
    assert result.exit_code == ExitCode.NOT_FOUND
    envelope = result.json()
    assert (envelope["command"], envelope["status"]) == ("run", "error")
    assert "abc123" not in result.stdout + result.stderr


def test_error_envelope_of_a_subcommand_is_its_path() -> None:
    result = run_cli("client", "connect", "no-such-client", "srv", "--json")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert result.json()["command"] == "client connect"


def test_without_json_an_error_prints_no_envelope() -> None:
    result = run_cli("run", "missing-server")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert result.stdout == ""


def test_dry_run_refuses_a_token_in_e_before_anything_runs() -> None:
    result = run_cli("run", "time", "--dry-run", "-e", "OPENAI_API_KEY=sk-proj-" + "Ab1" * 16, "--json")
    assert result.exit_code == ExitCode.USAGE
    assert result.json()["errors"][0]["code"] == "secret-in-env"
    assert "sk-proj-" not in result.stdout + result.stderr


def test_last_lines_counts_only_what_is_shown() -> None:
    from toolhive_py.runtime.workloads import last_lines

    assert last_lines(b"a\nb\nc\n", 2) == b"b\nc\n"
    assert last_lines(b"a\nb\nc", 1) == b"c"
    assert last_lines(b"a\n", 5) == b"a\n"
    assert last_lines(b"a\nb\n", 0) == b""


def test_a_tail_that_is_not_a_number_is_a_usage_error() -> None:
    result = run_cli("logs", "anything", "--tail", "abc")
    assert result.exit_code == ExitCode.USAGE
    assert "--tail" in result.stderr


def test_a_workload_is_yours_when_its_owner_is_your_uid_or_unlabelled() -> None:
    from toolhive_py.runtime.workloads import Workload, is_mine

    def made_by(owner: str) -> Workload:
        return Workload(name="w", container_id="c", status="running", image="i", server="s", registry="",
                        vetted=True, transport="stdio", created="", ports={}, secret_env=(), restart_count=0,
                        owner=owner)

    assert is_mine(made_by("1000"), uid=1000)
    assert is_mine(made_by(""), uid=1000)
    assert not is_mine(made_by("0"), uid=1000)


def test_a_podman_without_an_init_binary_is_recognised() -> None:
    from toolhive_py.runtime.workloads import is_missing_init

    podman = ("Starting workload x: container create: container-init binary not found on the host: stat "
              "/usr/libexec/podman/catatonit: no such file or directory")
    assert is_missing_init(podman)
    assert not is_missing_init("Starting workload x: no space left on device")



def test_rm_all_removes_only_this_users_workloads() -> None:
    from toolhive_py.runtime.workloads import Workload
    from toolhive_py.workloads import removal_targets

    found = [Workload(name=n, container_id="c", status="running", image="i", server="s", registry="", vetted=True,
                      transport="stdio", created="", ports={}, secret_env=(), restart_count=0, owner=owner)
             for n, owner in (("mine", "1000"), ("theirs", "0"), ("old", ""))]
    assert removal_targets(found, uid=1000) == ["mine", "old"]
