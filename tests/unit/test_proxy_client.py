"""mcpctl's own MCP client of a proxy (proxy/client.py), against a real HTTP server on 127.0.0.1 that answers
``initialize`` the ways Streamable HTTP allows: a JSON body or an SSE stream (a priming event first), and
the ways it must not count as an answer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from toolhive_py.errors import MCPCTLError
from toolhive_py.proxy.client import ProxyClient, ToolCallError

ANSWERS = {
    "json-result": ("application/json", '{"jsonrpc": "2.0", "id": 1, "result": {"protocolVersion": "2025-11-25"}}'),
    "sse-result": ("text/event-stream", 'id: 1\r\nretry: 1000\r\ndata: \r\n\r\nevent: message\r\ndata: '
                   '{"jsonrpc": "2.0", "id": 1, "result": {}}\r\n\r\n'),
    "json-error": ("application/json", '{"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "x"}}'),
    "html": ("text/html", "<html>it works</html>"),
    "sse-not-json": ("text/event-stream", "data: not json\n\n"),
}


@pytest.fixture
def answering() -> Iterator[dict[str, str]]:
    """A server whose answer to a request is ``chosen["answer"]``; notifications get 202, DELETE 200."""
    chosen = {"answer": "json-result"}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if "id" not in message:
                self.send_response(202)
                self.end_headers()
                return
            content_type, body = ANSWERS[chosen["answer"]]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body.encode())))
            self.end_headers()
            self.wfile.write(body.encode())

        def do_DELETE(self) -> None:  # noqa: N802 - the http.server name
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    chosen["url"] = f"http://127.0.0.1:{server.server_address[1]}/mcp"
    yield chosen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("answer", ["json-result", "sse-result"])
def test_an_initialize_answered_as_json_or_sse_opens_a_session(answering: dict[str, str], answer: str) -> None:
    answering["answer"] = answer
    with ProxyClient("w", answering["url"], 5.0):
        pass


@pytest.mark.parametrize("answer", ["json-error", "html", "sse-not-json"])
def test_anything_else_is_no_answer(answering: dict[str, str], answer: str) -> None:
    answering["answer"] = answer
    with pytest.raises(ToolCallError), ProxyClient("w", answering["url"], 5.0):
        pass


def test_nothing_listening_is_an_unreachable_proxy() -> None:
    from toolhive_py.proxy.supervisor import free_port

    with pytest.raises(MCPCTLError) as raised, ProxyClient("w", f"http://127.0.0.1:{free_port()}/mcp", 2.0):
        pass
    assert raised.value.code == "proxy-unreachable"
