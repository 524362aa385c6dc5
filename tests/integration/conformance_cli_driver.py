"""The conformance suite's client under test, as a person uses mcpctl: `mcpctl run URL`, `mcpctl auth login
--headless` (the "person" opens the printed URL, where the suite's authorization server approves at once, and
pastes back where it redirects), then tools through the workload's proxy, `mcpctl auth logout`, and `rm`.

Writes what it saw to $MCPCTL_DRIVER_REPORT (JSON) for the test to judge.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

__all__ = ["main"]

MCPCTL = [sys.executable, "-m", "toolhive_py"]


def _mcpctl(*args: str) -> dict[str, Any]:
    done = subprocess.run([*MCPCTL, *args], capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    return {"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr}


def _login(name: str) -> dict[str, Any]:
    import httpx

    process = subprocess.Popen([*MCPCTL, "auth", "login", name, "--headless", "--json"],  # noqa: S603
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdin is not None
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if line.startswith("http") and "authorize" in line:
            answer = httpx.get(line.strip(), follow_redirects=False)
            process.stdin.write(answer.headers["location"] + "\n")
            process.stdin.flush()
            break
    stdout, stderr = process.communicate(timeout=60)
    return {"rc": process.returncode, "stdout": stdout, "stderr": "".join(seen) + stderr}


def _held_secrets(name: str) -> dict[str, Any]:
    """The tokens the keyring holds for the workload, and whether its proxy's argv or environment shows them
    (for the test to grep the state directory, audit and proxy logs for them)."""
    from pathlib import Path

    from toolhive_py.auth.storage import load_state
    from toolhive_py.config import Paths
    from toolhive_py.proxy.supervisor import running_proxy
    from toolhive_py.secrets import open_provider

    paths = Paths.from_env()
    state = load_state(open_provider(paths, "keyring"), sys.argv[-1])
    tokens = [v for v in ((state.tokens or {}).get("access_token"), (state.tokens or {}).get("refresh_token")) if v]
    proxy = running_proxy(paths, name)
    exposed = False
    if proxy is not None:
        seen = Path(f"/proc/{proxy.pid}/cmdline").read_bytes() + Path(f"/proc/{proxy.pid}/environ").read_bytes()
        exposed = any(t.encode() in seen for t in tokens)
    return {"rc": 0, "stdout": "", "stderr": "", "tokens": tokens, "proxy_running": proxy is not None,
            "exposed": exposed}


def main() -> int:
    url = sys.argv[-1]
    report: dict[str, Any] = {"run": _mcpctl("run", url, "--name", "conf", "--json")}
    report["login"] = _login("conf")
    report["status"] = _mcpctl("auth", "status", "conf", "--json")
    report["tools"] = _mcpctl("tools", "list", "conf", "--json")
    listed = json.loads(report["tools"]["stdout"] or "{}") or {}
    tools = (listed.get("data") or {}).get("tools") or []
    if tools:
        report["call"] = _mcpctl("tools", "call", "conf", tools[0]["name"], "--timeout", "20")
    report["secrets"] = _held_secrets("conf")
    report["logout"] = _mcpctl("auth", "logout", "conf")
    report["after_logout"] = _mcpctl("tools", "list", "conf")
    report["rm"] = _mcpctl("rm", "conf")
    with open(os.environ["MCPCTL_DRIVER_REPORT"], "w", encoding="utf-8") as out:
        json.dump(report, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
