"""A workload's secret fingerprints: a private file that holds no value, and a matcher that finds each exact
value wherever it stands whole in a text (alone, in ``NAME=value``, in JSON, with punctuation of its own)
and nothing else."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from toolhive_py.integrity.dlp import (
    FingerprintsError,
    fingerprints_path,
    load_fingerprints,
    write_fingerprints,
)

GITHUB = "ghp_" + "Zq7X" * 9
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY+9"
PASSWORD = "p@ss w0rd!2024#"
VALUES = {"GITHUB_TOKEN": GITHUB, "AWS_SECRET_ACCESS_KEY": AWS_SECRET, "DB_PASSWORD": PASSWORD}


def test_the_file_is_private_and_holds_no_value(tmp_path: Path) -> None:
    state = tmp_path / "workloads" / "github"
    write_fingerprints(state, VALUES)
    path = fingerprints_path(state)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    document = json.loads(text)
    assert sorted(s["env"] for s in document["secrets"]) == sorted(VALUES)
    for value in VALUES.values():
        for form in (value, value.encode().hex(), base64.b64encode(value.encode()).decode(), value[4:20]):
            assert form not in text
    write_fingerprints(state, VALUES)
    assert json.loads(path.read_text())["key"] != document["key"], "every write draws a fresh key"


@pytest.mark.parametrize("wrapping", [
    "{}", "GITHUB_TOKEN={}\nHOME=/home/app", '{{"token": "{}"}}', "Authorization: Bearer {}", "value '{}'.",
    "été {} été", "a\t{}\n", "https://x.example/?key={}&a=b",
])
@pytest.mark.parametrize(("env", "value"), sorted(VALUES.items()))
def test_each_value_is_found_wherever_it_stands_whole(tmp_path: Path, env: str, value: str, wrapping: str) -> None:
    write_fingerprints(tmp_path, VALUES)
    fingerprints = load_fingerprints(tmp_path)
    assert fingerprints is not None
    assert fingerprints.find_text(wrapping.format(value)) == env


@pytest.mark.parametrize("text", [
    "", "nothing to see here", GITHUB[:-1], GITHUB[:-1] + "Y", "ghp_" + "Zq7X" * 8 + "Zq7Y",
    "bPxRfiCYEXAMPLEKEY", AWS_SECRET.replace("K7MDENG", "K7MDENH"), "p@ss w0rd!2023#", "w0rd " * 50,
    "x" * 4000, "123e4567-e89b-12d3-a456-426614174000 " * 30,
])
def test_near_misses_and_other_text_are_not_found(tmp_path: Path, text: str) -> None:
    write_fingerprints(tmp_path, VALUES)
    fingerprints = load_fingerprints(tmp_path)
    assert fingerprints is not None
    assert fingerprints.find_text(text) is None


def test_a_value_found_after_an_earlier_near_miss_of_its_anchor(tmp_path: Path) -> None:
    """The anchor token (the value's longest) can occur where the rest differs; a later whole copy counts."""
    write_fingerprints(tmp_path, {"AWS_SECRET_ACCESS_KEY": AWS_SECRET})
    fingerprints = load_fingerprints(tmp_path)
    assert fingerprints is not None
    near = AWS_SECRET.replace("wJalr", "wJalX")
    assert fingerprints.find_text(near) is None
    assert fingerprints.find_text(f"{near} and then {AWS_SECRET}") == "AWS_SECRET_ACCESS_KEY"


def test_values_too_short_to_look_for_are_left_out(tmp_path: Path) -> None:
    write_fingerprints(tmp_path, {"PORT": "8080", "FLAG": "true", "PIN": "1234567", "DOTS": "a.b.c.d.e.f.g",
                                  "TOKEN": GITHUB})
    fingerprints = load_fingerprints(tmp_path)
    assert fingerprints is not None
    assert [s.env for s in fingerprints.secrets] == ["TOKEN"]
    assert fingerprints.find_text("listening on 8080, flag true, pin 1234567, a.b.c.d.e.f.g") is None


def test_no_file_is_no_fingerprints_and_a_broken_one_is_an_error(tmp_path: Path) -> None:
    assert load_fingerprints(tmp_path) is None
    write_fingerprints(tmp_path, {})
    empty = load_fingerprints(tmp_path)
    assert empty is not None
    assert empty.find_text(GITHUB) is None
    fingerprints_path(tmp_path).write_text("{not json")
    with pytest.raises(FingerprintsError) as raised:
        load_fingerprints(tmp_path)
    assert raised.value.code == "dlp-fingerprints-unreadable"
    fingerprints_path(tmp_path).write_text(json.dumps({"version": 99, "key": "00", "secrets": []}))
    with pytest.raises(FingerprintsError):
        load_fingerprints(tmp_path)
