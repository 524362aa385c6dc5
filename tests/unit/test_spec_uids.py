"""Each workload's own uid: allocation from the high range (pure), what the host reserves, and the spec using it."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolhive_py.errors import ConflictError
from toolhive_py.runtime import labels
from toolhive_py.runtime.spec import RunRequest, build_container_spec
from toolhive_py.runtime.uids import (
    UID_BASE,
    UID_COUNT,
    allocate_uid,
    host_reserved_ids,
    parse_account_ids,
    parse_subid_ranges,
)


def test_a_name_gets_the_same_uid_while_it_is_free_and_another_one_once_it_is_taken() -> None:
    first = allocate_uid("github", taken=set())
    assert UID_BASE <= first < UID_BASE + UID_COUNT
    assert allocate_uid("github", taken={first - 1}) == first
    second = allocate_uid("github", taken={first})
    assert second != first
    assert UID_BASE <= second < UID_BASE + UID_COUNT


def test_two_live_workloads_never_share_a_uid() -> None:
    taken: set[int] = set()
    for index in range(200):
        uid = allocate_uid(f"w{index % 7}", taken)  # the same few names again and again: every probe collides
        assert uid not in taken
        taken.add(uid)
    assert len(taken) == 200


def test_host_accounts_and_subordinate_ranges_are_never_handed_out() -> None:
    start = allocate_uid("github", taken=set(), base=1000, count=10)
    reserved_ranges = [range(1000, 1005)]
    picked = allocate_uid("github", taken=set(), reserved_ids={start}, reserved_ranges=reserved_ranges,
                          base=1000, count=10)
    assert picked != start
    assert picked not in range(1000, 1005)
    with pytest.raises(ConflictError) as caught:
        allocate_uid("github", taken=set(range(1005, 1010)), reserved_ranges=reserved_ranges, base=1000, count=10)
    assert caught.value.code == "no-free-uid"


def test_passwd_group_and_subid_texts_parse() -> None:
    assert parse_account_ids("root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n# junk\n:x:y") \
        == {0, 65534}
    assert parse_subid_ranges("alice:100000:65536\nbob:165536:65536\nbad line\n") \
        == [range(100000, 165536), range(165536, 231072)]


def test_the_hosts_files_are_read_and_missing_ones_reserve_nothing(tmp_path: Path) -> None:
    assert host_reserved_ids(tmp_path) == (set(), [])
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("app:x:2000000001:5::/:/bin/sh\n")
    (tmp_path / "etc/group").write_text("g:x:7:\n")
    (tmp_path / "etc/subuid").write_text("containers:2000000000:10\n")
    ids, ranges = host_reserved_ids(tmp_path)
    assert ids == {2000000001, 7}
    assert ranges == [range(2000000000, 2000000010)]


def test_the_range_clears_this_hosts_accounts_and_subordinate_ids() -> None:
    ids, ranges = host_reserved_ids()
    assert not {i for i in ids if UID_BASE <= i < UID_BASE + UID_COUNT}
    assert all(r.stop <= UID_BASE or r.start >= UID_BASE + UID_COUNT for r in ranges)
    assert UID_BASE + UID_COUNT - 1 <= 2**31 - 1, "Docker refuses larger ids"


def test_the_spec_runs_as_the_allocated_uid_and_gid_with_home_on_the_tmpfs() -> None:
    uid = allocate_uid("demo", taken=set())
    spec = build_container_spec(RunRequest(name="demo", image="example/demo:1", image_user="1000:1000", uid=uid))
    assert spec.kwargs["user"] == f"{uid}:{uid}"
    assert spec.kwargs["labels"][labels.UID] == str(uid)
    assert spec.kwargs["environment"]["HOME"] == "/tmp"
    given = build_container_spec(RunRequest(name="demo", image="example/demo:1", uid=uid, env={"HOME": "/data"}))
    assert given.kwargs["environment"]["HOME"] == "/data"


def test_without_an_allocation_the_spec_keeps_the_images_resolved_user() -> None:
    spec = build_container_spec(RunRequest(name="demo", image="example/demo:1", image_user="1000:1000"))
    assert spec.kwargs["user"] == "1000:1000"
    assert labels.UID not in spec.kwargs["labels"]


def test_a_uid_outside_the_range_is_a_caller_bug() -> None:
    with pytest.raises(RuntimeError):
        build_container_spec(RunRequest(name="demo", image="example/demo:1", uid=65534))
