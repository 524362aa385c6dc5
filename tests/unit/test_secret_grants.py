"""Who may receive a stored secret asked for by env var name (secrets/grants.py)."""

from __future__ import annotations

import stat

from toolhive_py.config import Paths
from toolhive_py.secrets import SecretRequest
from toolhive_py.secrets.grants import decide, read_grants, record_grants

DECLARED = SecretRequest("GITHUB_TOKEN", "GITHUB_TOKEN", declared=True)


def test_a_secret_named_with_secret_flag_is_the_users_choice() -> None:
    explicit = SecretRequest("GITHUB_TOKEN", "GITHUB_TOKEN")
    assert decide(explicit, holders=frozenset({"default/github"}), server="evil/x", vetted=False) == "claim"


def test_a_holder_gets_its_secret() -> None:
    assert decide(DECLARED, holders=frozenset({"default/github"}), server="default/github", vetted=True) == "allow"


def test_another_server_declaring_the_same_name_must_ask() -> None:
    assert decide(DECLARED, holders=frozenset({"default/github"}), server="acme/github", vetted=True) == "ask"


def test_a_secret_nobody_holds_goes_to_the_first_vetted_server_only() -> None:
    assert decide(DECLARED, holders=frozenset(), server="acme/github", vetted=True) == "claim"
    assert decide(DECLARED, holders=frozenset(), server="unsigned/github", vetted=False) == "ask"


def test_grants_are_recorded_by_name_in_a_private_file() -> None:
    paths = Paths.from_env()
    assert read_grants(paths) == {}
    record_grants(paths, "default/github", ["GITHUB_TOKEN"])
    record_grants(paths, "acme/x", ["GITHUB_TOKEN", "OTHER"])
    record_grants(paths, "acme/x", ["OTHER"])
    assert read_grants(paths) == {"GITHUB_TOKEN": frozenset({"default/github", "acme/x"}),
                                  "OTHER": frozenset({"acme/x"})}
    grants = paths.state_dir / "secret-grants.json"
    assert stat.S_IMODE(grants.stat().st_mode) == 0o600


def test_a_corrupt_grants_file_grants_nothing() -> None:
    paths = Paths.from_env()
    (paths.state_dir).mkdir(parents=True)
    (paths.state_dir / "secret-grants.json").write_text("{not json")
    assert read_grants(paths) == {}
    assert decide(DECLARED, holders=read_grants(paths).get("GITHUB_TOKEN", frozenset()), server="acme/x",
                  vetted=True) == "claim"
