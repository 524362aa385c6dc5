"""Pull failures mean the same on Docker and Podman: the engines' own texts, classified by one pure function."""

from __future__ import annotations

import pytest

from toolhive_py.runtime.images import PullFailure, classify_pull_error, load_hint, registry_of


@pytest.mark.parametrize(("text", "expected"), [
    # Docker, DNS down (its HTTP 500 explanation)
    ('Get "https://ghcr.io/v2/": dial tcp: lookup ghcr.io on 10.255.255.53:53: no such host', PullFailure.UNREACHABLE),
    # Podman, DNS down (the stream's error event)
    ('initializing source docker://ghcr.io/github/github-mcp-server:v0.30.3: pinging container registry ghcr.io: '
     'Get "https://ghcr.io/v2/": dial tcp: lookup ghcr.io on 10.255.255.53:53: no such host', PullFailure.UNREACHABLE),
    ('Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused', PullFailure.UNREACHABLE),
    ('initializing source docker://127.0.0.1:1/x:1: pinging container registry 127.0.0.1:1: Get '
     '"https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused', PullFailure.UNREACHABLE),
    ('Get "https://registry-1.docker.io/v2/": net/http: request canceled while waiting for connection '
     "(Client.Timeout exceeded while awaiting headers)", PullFailure.UNREACHABLE),
    ('Get "https://ghcr.io/v2/": tls: failed to verify certificate: x509: certificate signed by unknown authority',
     PullFailure.UNREACHABLE),
    ("manifest for ghcr.io/github/github-mcp-server:v9 not found: manifest unknown: manifest unknown",
     PullFailure.NOT_FOUND),
    ("pull access denied for nosuch/image, repository does not exist or may require 'docker login': denied: "
     "requested access to the resource is denied", PullFailure.NOT_FOUND),
    ("initializing source docker://quay.io/nosuch/image:1: reading manifest 1 in quay.io/nosuch/image: "
     "manifest unknown", PullFailure.NOT_FOUND),
    ("Head \"https://ghcr.io/v2/org/private/manifests/1\": unauthorized", PullFailure.DENIED),
    ("initializing source docker://ghcr.io/org/private:1: reading manifest 1 in ghcr.io/org/private: "
     "authentication required", PullFailure.DENIED),
    ("write /var/lib/docker/tmp/GetImageBlob: no space left on device", PullFailure.OTHER),
])
def test_pull_errors_are_classified_the_same_on_both_engines(text: str, expected: PullFailure) -> None:
    assert classify_pull_error(text) is expected


def test_a_digest_or_an_address_in_the_text_does_not_decide_the_class() -> None:
    assert classify_pull_error("sha256:401403aa: layer verification failed") is PullFailure.OTHER


def test_the_registry_of_a_reference() -> None:
    assert registry_of("ghcr.io/github/github-mcp-server:v0.30.3") == "ghcr.io"
    assert registry_of("127.0.0.1:5000/x:1") == "127.0.0.1:5000"
    assert registry_of("localhost/x") == "localhost"
    assert registry_of("mcp/time:1") == "docker.io"
    assert registry_of("python:3.11-slim") == "docker.io"


def test_the_load_recipe_names_the_engine_and_the_image() -> None:
    hint = load_hint("podman", "ghcr.io/x/y:1")
    assert "podman save ghcr.io/x/y:1 -o image.tar" in hint
    assert "`podman load -i image.tar`" in hint
