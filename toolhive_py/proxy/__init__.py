"""The local MCP proxy: one process per workload, serving Streamable HTTP and SSE on 127.0.0.1.

Clients talk to the proxy, never to the container: it multiplexes many client sessions onto one
stdio server, enforces the workload's tool policy and writes the audit log.
"""
