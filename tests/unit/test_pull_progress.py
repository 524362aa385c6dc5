"""Pull progress folded from a recorded Docker pull event stream (no image registry is reachable here)."""

from __future__ import annotations

from toolhive_py.cli.progress import PullState
from toolhive_py.runtime.images import PullProgress

RECORDED = [
    ("", "Pulling from mcp/time", None, None),
    ("a1b2c3d4e5f6", "Pulling fs layer", None, None),
    ("0f9e8d7c6b5a", "Already exists", None, None),
    ("a1b2c3d4e5f6", "Downloading", 1_048_576, 29_150_000),
    ("a1b2c3d4e5f6", "Downloading", 20_971_520, 29_150_000),
    ("a1b2c3d4e5f6", "Download complete", None, None),
    ("a1b2c3d4e5f6", "Extracting", 29_150_000, 29_150_000),
    ("a1b2c3d4e5f6", "Pull complete", None, None),
    ("", "Digest: sha256:" + "0" * 64, None, None),
    ("", "Status: Downloaded newer image for mcp/time:latest", None, None),
]


def test_layers_track_bytes_and_completion() -> None:
    state = PullState()
    seen = []
    for layer, status, current, total in RECORDED:
        updated = state.apply(PullProgress(layer, status, current, total))
        if updated is not None and layer == "a1b2c3d4e5f6" and status == "Downloading":
            seen.append((updated.current, updated.total))
    assert seen == [(1_048_576, 29_150_000), (20_971_520, 29_150_000)]
    assert list(state.layers) == ["a1b2c3d4e5f6", "0f9e8d7c6b5a"], "summary lines are not layers"
    assert state.layers["a1b2c3d4e5f6"].current == 29_150_000
    assert state.done == 2
