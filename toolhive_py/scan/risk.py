"""Risk: the rules a finding can break, and the one level each finding gets (its worst reason's).

Analysis records what it saw (secrets, identity, flags); this module turns that into reasons with levels
in one place, and names every rule once for the report formats (SARIF rules, docs).
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Final

from toolhive_py.scan.model import LEVELS, Level, Reason, SecretLocation, ServerFinding

__all__ = ["RULES", "finalize"]

RULES: Final[dict[str, str]] = {
    "plaintext-secret": "A credential is written in plain text in an MCP client config or command line.",
    "unvetted": "The server matches no entry of a trusted (signed) registry.",
    "unpinned": "The package or image is not pinned to an exact version or digest.",
    "insecure-remote": "A remote MCP server is reached over plain HTTP on a non-loopback host.",
    "broad-filesystem": "The server is given the root or home directory.",
    "privileged-container": "The server's container runs privileged or on the host network.",
    "unconfigured-process": "An MCP server process runs that no client config on this machine declares.",
    "managed": "The server is managed by mcpctl (hardened container behind a local proxy).",
    "proxy-credential": "The entry holds an mcpctl proxy credential: it opens only one local mcpctl proxy of this "
                        "user (revoke it with `mcpctl client revoke`), it is not a third-party key.",
    "tool-screening": "A tool pinned for an mcpctl workload addresses the model, hides text or asks for data "
                      "it has no need for (description screening; the message names the finding).",
}


def _shown(location: str) -> str:
    """A side file by its name (the full path is in the finding's secrets): file:/a/b/.env:KEY → .env:KEY."""
    where = SecretLocation.parse(location)
    if where.kind != "file":
        return location
    return f"side file {PurePath(where.path or '').name}:{where.name}"


def finalize(finding: ServerFinding) -> ServerFinding:
    """Turn what was found into reasons and one level (the worst reason's)."""
    seen: set[tuple[str, str]] = set()
    for secret in finding.secrets:
        if (secret.fingerprint, secret.location) in seen:
            continue
        seen.add((secret.fingerprint, secret.location))
        level: Level = "high" if secret.provider == "high-entropy" else "critical"
        finding.reasons.append(Reason("plaintext-secret", level, f"plaintext {secret.provider} in "
                                      f"{_shown(secret.location)} ({secret.redacted}, #{secret.fingerprint})"))
    if finding.status == "managed":
        finding.reasons.append(Reason("managed", "info", "managed by mcpctl"))
    elif finding.status == "unvetted":
        finding.reasons.append(Reason("unvetted", "medium", "unvetted: matches no trusted registry entry"))
    if finding.kind in ("npm", "pypi", "image") and not finding.pinned and finding.status != "managed":
        explicit = finding.version == "latest"
        finding.reasons.append(Reason("unpinned", "medium" if explicit else "low",
                                      f"unpinned: {finding.target}" + (" (@latest)" if explicit else
                                                                       " (no exact version)")))
    finding.level = min((r.level for r in finding.reasons), key=LEVELS.index, default="info")
    return finding
