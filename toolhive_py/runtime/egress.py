"""Enforce an egress allowlist: the server sits on an internal network (no route out) whose only other
member is a filter sidecar, mcpctl's own HTTP/CONNECT proxy (toolhive_py/egress/filter.py), which is also
on the engine's default network and relays only to allowed hosts and ports.

The sidecar is found by label, never listed as a workload, and follows its workload's stop/start/rm. It is
hardened as workloads are (``spec.hardened_settings``), with a smaller pids cgroup and memory limit of its own.
"""

from __future__ import annotations

import hashlib
import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from toolhive_py.errors import EngineError
from toolhive_py.registry.models import OutboundPermissions
from toolhive_py.runtime import labels
from toolhive_py.runtime.builds import require_base_image
from toolhive_py.runtime.engine import engine_errors
from toolhive_py.runtime.spec import NOBODY, hardened_settings

if TYPE_CHECKING:
    from toolhive_py.runtime.engine import Engine

__all__ = ["FILTER_PORT", "ensure_filter_image", "remove", "setup", "sidecar_state", "start", "stop"]

FILTER_PORT: Final = 3128
# The filter is one Python process with a thread per open connection: its own cgroup bounds it.
_FILTER_PIDS: Final = 64
_FILTER_MEMORY: Final = 64 * 1024 * 1024
_FILTER_NOFILE: Final = 1024


def ensure_filter_image(engine: Engine, python_image: str) -> str:
    """The filter's image, built from ``python_image`` plus the filter script (reused while both are unchanged)."""
    script = resources.files("toolhive_py.egress").joinpath("filter.py").read_bytes()
    tag = f"mcpctl-egress-filter:{hashlib.sha256(script + python_image.encode()).hexdigest()[:12]}"
    with engine_errors("Looking for the egress filter image"):
        if engine.client.images.list(name=tag):
            return tag
    require_base_image(engine, python_image, "build.python_image")
    with tempfile.TemporaryDirectory() as context:
        Path(context, "filter.py").write_bytes(script)
        Path(context, "Dockerfile").write_text(f"FROM {python_image}\nCOPY filter.py /opt/mcpctl-egress-filter.py\n"
                                               f"USER {NOBODY}\n"
                                               'ENTRYPOINT ["python3", "/opt/mcpctl-egress-filter.py"]\n')
        with engine_errors("Building the egress filter image"):
            engine.client.images.build(path=context, tag=tag, rm=True, pull=False, network_mode="none")
    return tag


def _outside_network(engine: Engine) -> str:
    return "podman" if engine.kind == "podman" else "bridge"


def setup(engine: Engine, workload: str, outbound: OutboundPermissions, image: str) -> dict[str, str]:
    """Create the internal network and the filter; returns the proxy environment for the server."""
    remove(engine, workload)
    owner = {labels.EGRESS_FOR: workload}
    network_name = labels.egress_network_name(workload)
    with engine_errors(f"Creating the egress network for {workload}"):
        network = engine.client.networks.create(network_name, driver="bridge", internal=True, labels=owner)
        sidecar = engine.client.containers.create(
            image, name=labels.egress_filter_name(workload), detach=True, labels=owner,
            network=_outside_network(engine),
            environment={"ALLOW_HOSTS": ",".join(outbound.allow_host),
                         "ALLOW_PORTS": ",".join(str(p) for p in outbound.allow_port),
                         "LISTEN_PORT": str(FILTER_PORT)},
            **hardened_settings(memory=_FILTER_MEMORY, pids_limit=_FILTER_PIDS, nofile=_FILTER_NOFILE),
            restart_policy={"Name": "on-failure", "MaximumRetryCount": 5})
        network.connect(sidecar)
        sidecar.start()
        sidecar.reload()
    address = _address_on(sidecar.attrs, network_name)
    if not address:
        remove(engine, workload)
        raise EngineError(f"The egress filter for {workload} got no address on its internal network.",
                          code="egress-setup-failed")
    proxy = f"http://{address}:{FILTER_PORT}"
    return {"HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy, "https_proxy": proxy,
            "NO_PROXY": "localhost,127.0.0.1", "no_proxy": "localhost,127.0.0.1"}


def _address_on(attrs: dict[str, Any], network: str) -> str | None:
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    address = (networks.get(network) or {}).get("IPAddress")
    return str(address) if address else None


def _sidecars(engine: Engine, workload: str) -> list[Any]:
    with engine_errors(f"Looking up the egress filter of {workload}"):
        return list(engine.client.containers.list(all=True, filters=labels.egress_filter(workload)))


def sidecar_state(engine: Engine, workload: str) -> str | None:
    """The engine's state of the workload's egress filter (``running``, ``restarting``, ``exited``…); None when
    the workload has none. A workload whose filter is not running has no way out at all."""
    sidecars = _sidecars(engine, workload)
    if not sidecars:
        return None
    sidecar = sidecars[0]
    with engine_errors(f"Inspecting the egress filter of {workload}"):
        sidecar.reload()  # a listed container's attrs are the list's summary; its State needs an inspect
    state = sidecar.attrs.get("State") or {}
    if state.get("Restarting"):
        return "restarting"
    return str(state.get("Status") or sidecar.status)


def start(engine: Engine, workload: str) -> None:
    for sidecar in _sidecars(engine, workload):
        with engine_errors(f"Starting the egress filter of {workload}"):
            sidecar.start()


def stop(engine: Engine, workload: str) -> None:
    for sidecar in _sidecars(engine, workload):
        with engine_errors(f"Stopping the egress filter of {workload}"):
            sidecar.stop(timeout=5)


def remove(engine: Engine, workload: str) -> None:
    for sidecar in _sidecars(engine, workload):
        with engine_errors(f"Removing the egress filter of {workload}"):
            sidecar.remove(force=True)
    with engine_errors(f"Removing the egress network of {workload}"):
        for network in engine.client.networks.list(filters=labels.egress_filter(workload)):
            network.remove()
