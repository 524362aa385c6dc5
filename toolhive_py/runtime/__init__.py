"""Container runtime: engine discovery (Docker or Podman via the Docker API), the hardened container
spec (one pure function), images, and workload lifecycle by ``io.mcpctl.*`` labels.

Policy: docker SDK exceptions are translated to mcpctl errors in ``engine.py`` and never escape this
package; state lives in engine labels, so losing local files loses nothing.
"""

from __future__ import annotations

__all__: list[str] = []
