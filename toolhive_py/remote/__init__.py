"""Remote (hosted) MCP servers: the URL and address policy the proxy enforces before it sends anything
(``policy``), header templates filled from the secret backend, and the record of a remote workload
(``records``). Policy: a remote is reached over verified TLS only, never at a link-local or cloud-metadata
address, and its credentials exist only in the secret backend and the proxy's memory."""

from __future__ import annotations

from toolhive_py.remote.policy import (
    HeaderTemplate,
    RemoteURL,
    check_addresses,
    fill_headers,
    is_forbidden_address,
    is_same_origin,
    parse_header,
    parse_remote_url,
    workload_name_for,
)

__all__ = ["HeaderTemplate", "RemoteURL", "check_addresses", "fill_headers", "is_forbidden_address",
           "is_same_origin", "parse_header", "parse_remote_url", "workload_name_for"]
