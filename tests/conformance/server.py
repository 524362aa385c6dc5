"""An MCP server implementing the server scenarios of @modelcontextprotocol/conformance, on the mcp 2.x
SDK. It runs over Streamable HTTP (to measure the SDK directly) and over stdio (how mcpctl's proxy
fronts servers), so the two conformance runs differ only by the proxy.

    python tests/conformance/server.py --transport streamable-http --port 8000
    python tests/conformance/server.py            # stdio
"""

from __future__ import annotations

import argparse
import base64
import itertools
from typing import Any

import anyio
import mcp_types as types
from mcp.server import ServerRequestContext
from mcp.server.elicitation import AcceptedElicitation
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts.base import UserMessage
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, Field

# A 1x1 red PNG and a tiny silent WAV: the smallest valid media for the content scenarios.
PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8cfc000"
    "000301010018dd8db00000000049454e44ae426082")).decode()
WAV = base64.b64encode(b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80>\x00\x00"
                       b"\x02\x00\x10\x00data\x00\x00\x00\x00").decode()

server = MCPServer("mcpctl-conformance-server", version="1.0.0")


@server.tool(description="Returns simple text")
def test_simple_text() -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text",
                                                           text="This is a simple text response for testing.")])


@server.tool(description="Returns an image")
def test_image_content() -> types.CallToolResult:
    return types.CallToolResult(content=[types.ImageContent(type="image", data=PNG, mime_type="image/png")])


@server.tool(description="Returns audio")
def test_audio_content() -> types.CallToolResult:
    return types.CallToolResult(content=[types.AudioContent(type="audio", data=WAV, mime_type="audio/wav")])


def _resource(uri: str, mime: str, text: str) -> types.EmbeddedResource:
    return types.EmbeddedResource(type="resource", resource=types.TextResourceContents(uri=uri, mime_type=mime,
                                                                                        text=text))


@server.tool(description="Returns an embedded resource")
def test_embedded_resource() -> types.CallToolResult:
    return types.CallToolResult(content=[_resource("test://embedded-resource", "text/plain",
                                                   "This is an embedded resource content.")])


@server.tool(description="Returns text, image and resource")
def test_multiple_content_types() -> types.CallToolResult:
    return types.CallToolResult(content=[
        types.TextContent(type="text", text="Multiple content types test:"),
        types.ImageContent(type="image", data=PNG, mime_type="image/png"),
        _resource("test://mixed-content-resource", "application/json", '{"test":"data","value":123}')])


@server.tool(description="Sends three log messages")
async def test_tool_with_logging(ctx: Context) -> str:
    await ctx.info("Tool execution started")
    await anyio.sleep(0.05)
    await ctx.info("Tool processing data")
    await anyio.sleep(0.05)
    await ctx.info("Tool execution completed")
    return "Tool with logging executed successfully"


@server.tool(description="Reports progress 0, 50, 100 of 100")
async def test_tool_with_progress(ctx: Context) -> str:
    for step in (0, 50, 100):
        await ctx.report_progress(step, 100)
        if step < 100:
            await anyio.sleep(0.05)
    return "Tool with progress executed successfully"


@server.tool(description="Always fails")
def test_error_handling() -> types.CallToolResult:
    return types.CallToolResult(is_error=True, content=[types.TextContent(
        type="text", text="This tool intentionally returns an error for testing")])


@server.tool(description="Asks the client's LLM")
async def test_sampling(prompt: str, ctx: Context) -> str:
    result = await ctx.request_context.session.create_message(
        [types.SamplingMessage(role="user", content=types.TextContent(type="text", text=prompt))], max_tokens=100)
    text = result.content.text if isinstance(result.content, types.TextContent) else str(result.content)
    return f"LLM response: {text}"


class UserInfo(BaseModel):
    username: str = Field(description="User's response")
    email: str = Field(description="User's email address")


@server.tool(description="Asks the user")
async def test_elicitation(message: str, ctx: Context) -> str:
    result = await ctx.elicit(message, schema=UserInfo)
    content = result.data.model_dump() if isinstance(result, AcceptedElicitation) else {}
    return f"User response: action={result.action}, content={content}"


class Defaults(BaseModel):
    name: str = "John Doe"
    age: int = 30
    score: float = 95.5
    status: str = Field(default="active", json_schema_extra={"enum": ["active", "inactive", "pending"]})
    verified: bool = True


@server.tool(description="Elicitation with defaults (SEP-1034)")
async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
    result = await ctx.elicit("Please review and update the form fields with defaults", schema=Defaults)
    return f"Elicitation completed: action={result.action}"


ENUM_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
    "titledSingle": {"type": "string", "oneOf": [{"const": "value1", "title": "First"},
                                                 {"const": "value2", "title": "Second"}]},
    "legacyEnum": {"type": "string", "enum": ["opt1", "opt2"], "enumNames": ["Option one", "Option two"]},
    "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
    "titledMulti": {"type": "array", "items": {"anyOf": [{"const": "value1", "title": "First"},
                                                         {"const": "value2", "title": "Second"}]}},
}}


@server.tool(description="Elicitation with every enum shape (SEP-1330)")
async def test_elicitation_sep1330_enums(ctx: Context) -> str:
    # A hand-written schema: pydantic cannot emit the titled (oneOf/anyOf) and legacy (enumNames) shapes.
    result = await ctx.session.elicit_form("Pick from the enums", requested_schema=ENUM_SCHEMA)
    return f"Elicitation completed: action={result.action}"


class Address(BaseModel):
    street: str | None = None
    city: str | None = None


@server.tool(name="json_schema_2020_12_tool", description="Tool with JSON Schema 2020-12 features")
def json_schema_tool(name: str | None = None, address: Address | None = None) -> str:
    return f"name={name}, address={address}"


# SEP-1613 wants the schema exactly as written ($schema, $defs, additionalProperties) where the SDK would
# derive its own from the signature; the tool manager exposes no public way to set it.
_schema_tool = server._tool_manager.get_tool("json_schema_2020_12_tool")  # noqa: SLF001 - see above
assert _schema_tool is not None  # noqa: S101 - registered just above
_schema_tool.parameters = {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
    "$defs": {"address": {"type": "object", "properties": {"street": {"type": "string"},
                                                           "city": {"type": "string"}}}},
    "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
    "additionalProperties": False}


@server.tool(description="Closes the SSE stream mid-call so the client resumes with Last-Event-ID (SEP-1699)")
async def test_reconnection(ctx: Context) -> str:
    await anyio.sleep(0.1)
    await ctx.close_sse_stream()
    await anyio.sleep(0.2)
    return "Reconnection test completed"


# mcpctl's own 2026-07-28 tools (tests/integration/test_proxy_modern_lane.py): they work only on a connection
# in that era, where a tool asks by returning InputRequiredResult and reads the request's own client capabilities.
NAME_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}


@server.tool(description="Asks for a name with InputRequiredResult (2026-07-28), greets on the retry")
async def mcpctl_ask_name(ctx: Context) -> str | types.InputRequiredResult:
    answer = (ctx.input_responses or {}).get("name")
    if isinstance(answer, types.ElicitResult) and ctx.request_state == "asked-for-name":
        return f"Hello, {(answer.content or {}).get('name')}!"
    return types.InputRequiredResult(request_state="asked-for-name", input_requests={"name": types.ElicitRequest(
        params=types.ElicitRequestFormParams(message="What is your name?", requested_schema=NAME_SCHEMA))})


@server.tool(description="The capabilities the calling client declared (2026-07-28: per request)")
async def mcpctl_client_capabilities(ctx: Context) -> dict[str, Any]:
    capabilities = ctx.client_capabilities
    return {"capabilities": capabilities.model_dump(by_alias=True, exclude_none=True) if capabilities else None}


# The suite's 2026-07-28 multi-round-trip scenarios (SEP-2322): tools that answer with an InputRequiredResult
# under the input keys the suite names, and complete on the retry that answers them. requestState is sealed by
# the SDK (request-state security), so a tampered one never reaches these handlers.

def _elicit(message: str, properties: dict[str, Any]) -> types.ElicitRequest:
    schema = {"type": "object", "properties": properties, "required": list(properties)}
    return types.ElicitRequest(params=types.ElicitRequestFormParams(message=message, requested_schema=schema))


def _sample(text: str, max_tokens: int) -> types.CreateMessageRequest:
    return types.CreateMessageRequest(params=types.CreateMessageRequestParams(
        messages=[types.SamplingMessage(role="user", content=types.TextContent(type="text", text=text))],
        max_tokens=max_tokens))


def _answered(ctx: Context, *keys: str) -> bool:
    return all(key in (ctx.input_responses or {}) for key in keys)


@server.tool(description="SEP-2322: one elicitation input request (user_name)")
async def test_input_required_result_elicitation(ctx: Context) -> str | types.InputRequiredResult:
    if _answered(ctx, "user_name"):
        answer = (ctx.input_responses or {})["user_name"]
        content = answer.content if isinstance(answer, types.ElicitResult) else None
        return f"Hello, {(content or {}).get('name', 'stranger')}!"
    return types.InputRequiredResult(input_requests={"user_name": _elicit("What is your name?",
                                                                          {"name": {"type": "string"}})})


@server.tool(description="SEP-2322: one sampling input request (capital_question)")
async def test_input_required_result_sampling(ctx: Context) -> str | types.InputRequiredResult:
    if _answered(ctx, "capital_question"):
        answer = (ctx.input_responses or {})["capital_question"]
        content = answer.content if isinstance(answer, types.CreateMessageResult) else None
        return f"Model said: {content.text if isinstance(content, types.TextContent) else '?'}"
    return types.InputRequiredResult(input_requests={"capital_question": _sample("What is the capital of France?",
                                                                                 100)})


@server.tool(description="SEP-2322: one roots/list input request (client_roots)")
async def test_input_required_result_list_roots(ctx: Context) -> str | types.InputRequiredResult:
    if _answered(ctx, "client_roots"):
        answer = (ctx.input_responses or {})["client_roots"]
        roots = answer.roots if isinstance(answer, types.ListRootsResult) else []
        return "Roots: " + ", ".join(str(root.uri) for root in roots)
    return types.InputRequiredResult(input_requests={"client_roots": types.ListRootsRequest()})


@server.tool(description="SEP-2322: requestState round trip (confirm)")
async def test_input_required_result_request_state(ctx: Context) -> str | types.InputRequiredResult:
    if _answered(ctx, "confirm") and ctx.request_state == "confirm-asked":
        return "state-ok: the requestState came back as it was sent"
    return types.InputRequiredResult(input_requests={"confirm": _elicit("Please confirm", {"ok": {"type": "boolean"}})},
                                     request_state="confirm-asked")


@server.tool(description="SEP-2322: three input requests at once")
async def test_input_required_result_multiple_inputs(ctx: Context) -> str | types.InputRequiredResult:
    if _answered(ctx, "user_name", "greeting", "client_roots") and ctx.request_state == "three-asked":
        return "All three answers arrived."
    return types.InputRequiredResult(request_state="three-asked", input_requests={
        "user_name": _elicit("What is your name?", {"name": {"type": "string"}}),
        "greeting": _sample("Generate a greeting", 50),
        "client_roots": types.ListRootsRequest()})


@server.tool(description="SEP-2322: two rounds of questions, then the answer")
async def test_input_required_result_multi_round(ctx: Context) -> str | types.InputRequiredResult:
    if ctx.request_state == "round-2" and _answered(ctx, "step2"):
        return "Three rounds done."
    if ctx.request_state == "round-1" and _answered(ctx, "step1"):
        return types.InputRequiredResult(request_state="round-2", input_requests={
            "step2": _elicit("What is your favourite colour?", {"color": {"type": "string"}})})
    return types.InputRequiredResult(request_state="round-1", input_requests={
        "step1": _elicit("What is your name?", {"name": {"type": "string"}})})


@server.tool(description="SEP-2322: a requestState the SDK seals; a tampered one is refused before this runs")
async def test_input_required_result_tampered_state(ctx: Context) -> str | types.InputRequiredResult:
    if ctx.request_state is not None and _answered(ctx, "confirm"):
        return f"state-ok: {ctx.request_state}"
    return types.InputRequiredResult(request_state="sealed-by-the-sdk", input_requests={
        "confirm": _elicit("Confirm?", {"ok": {"type": "boolean"}})})


@server.tool(description="SEP-2322: asks only what the client declared it can answer")
async def test_input_required_result_capabilities(ctx: Context) -> types.InputRequiredResult:
    capabilities = ctx.client_capabilities
    requests: dict[str, types.InputRequest] = {}
    if capabilities is not None and capabilities.sampling is not None:
        requests["greeting"] = _sample("Generate a greeting", 50)
    if capabilities is not None and capabilities.elicitation is not None:
        requests["user_name"] = _elicit("What is your name?", {"name": {"type": "string"}})
    return types.InputRequiredResult(input_requests=requests, request_state="capabilities-asked")


@server.tool(description="SEP-2243: an argument mirrored into the Mcp-Param-Region header")
def test_x_mcp_header(region: str = Field(default="<none>", description="Also sent as Mcp-Param-Region",  # noqa: PT028
                                          json_schema_extra={"x-mcp-header": "Region"})) -> str:
    return f"region={region}"


@server.tool(description="SEP-2575: needs the client's sampling capability, else -32021")
async def test_missing_capability(ctx: Context) -> str:
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.sampling is None:
        raise MCPError(code=types.MISSING_REQUIRED_CLIENT_CAPABILITY, message="This tool needs the client's sampling "
                       "capability", data={"requiredCapabilities": {"sampling": {}}})
    return "The client declared sampling."


@server.prompt(description="SEP-2322: a prompt that asks for its context first")
async def test_input_required_result_prompt(ctx: Context) -> list[UserMessage] | types.InputRequiredResult:
    if _answered(ctx, "user_context"):
        answer = (ctx.input_responses or {})["user_context"]
        content = answer.content if isinstance(answer, types.ElicitResult) else None
        return [UserMessage(f"Use this context: {(content or {}).get('context', '')}")]
    return types.InputRequiredResult(input_requests={"user_context": _elicit(
        "What context should the prompt use?", {"context": {"type": "string"}})})


@server.resource("test://static-text", mime_type="text/plain")
def static_text() -> str:
    return "This is the content of the static text resource."


@server.resource("test://static-binary", mime_type="image/png")
def static_binary() -> bytes:
    return base64.b64decode(PNG)


@server.resource("test://template/{id}/data", mime_type="application/json")
def template(id: str) -> str:  # noqa: A002 - the URI template's name
    return f'{{"id":"{id}","templateTest":true,"data":"Data for ID: {id}"}}'


@server.resource("test://watched-resource", mime_type="text/plain")
def watched() -> str:
    return "Watched resource content"


@server.prompt(description="A simple prompt")
def test_simple_prompt() -> str:
    return "This is a simple prompt for testing."


@server.prompt(description="A prompt with arguments")
def test_prompt_with_arguments(arg1: str, arg2: str) -> str:
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@server.prompt(description="A prompt embedding a resource")
def test_prompt_with_embedded_resource(resourceUri: str) -> list[UserMessage]:  # noqa: N803 - the spec's name
    return [UserMessage(_resource(resourceUri, "text/plain", "Embedded resource content for testing.")),
            UserMessage("Please process the embedded resource above.")]


@server.prompt(description="A prompt with an image")
def test_prompt_with_image() -> list[UserMessage]:
    return [UserMessage(types.ImageContent(type="image", data=PNG, mime_type="image/png")),
            UserMessage("Please analyze the image above.")]


SUBSCRIPTIONS: set[str] = set()


async def set_logging_level(ctx: ServerRequestContext[Any], params: types.SetLevelRequestParams) -> types.EmptyResult:
    return types.EmptyResult()


async def subscribe(ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams) -> types.EmptyResult:
    SUBSCRIPTIONS.add(str(params.uri))
    return types.EmptyResult()


async def unsubscribe(ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams) -> types.EmptyResult:
    SUBSCRIPTIONS.discard(str(params.uri))
    return types.EmptyResult()


# logging/setLevel and resources/(un)subscribe are session-era methods MCPServer has no decorator for; the
# SDK's documented way to serve them is the low-level Server's add_request_handler.
_lowlevel = server._lowlevel_server  # noqa: SLF001 - see above
_lowlevel.add_request_handler("logging/setLevel", types.SetLevelRequestParams, set_logging_level)
_lowlevel.add_request_handler("resources/subscribe", types.SubscribeRequestParams, subscribe)
_lowlevel.add_request_handler("resources/unsubscribe", types.UnsubscribeRequestParams, unsubscribe)


class MemoryEventStore(EventStore):
    """Keeps every SSE event so a client that lost its stream resumes with Last-Event-ID (SEP-1699)."""

    def __init__(self) -> None:
        self._events: list[tuple[StreamId, EventId, types.JSONRPCMessage | None]] = []
        self._ids = itertools.count(1)

    async def store_event(self, stream_id: StreamId, message: types.JSONRPCMessage | None) -> EventId:
        event_id = str(next(self._ids))
        self._events.append((stream_id, event_id, message))
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        stream = next((s for s, e, _ in self._events if e == last_event_id), None)
        if stream is None:
            return None
        after = False
        for stream_id, event_id, message in list(self._events):
            if after and stream_id == stream and message is not None:
                await send_callback(EventMessage(message, event_id))
            after = after or event_id == last_event_id
        return stream


@server.completion()  # type: ignore[untyped-decorator,no-untyped-call]  # the SDK leaves it untyped
async def complete(ref: object, argument: types.CompletionArgument, context: object) -> types.Completion:
    return types.Completion(values=[v for v in ("paris", "park", "party") if v.startswith(argument.value)],
                            total=3, has_more=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", choices=["stdio", "streamable-http"], default="stdio")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 inside a container, for its published port")
    args = parser.parse_args()
    if args.transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=args.host, port=args.port, event_store=MemoryEventStore(),
                   retry_interval=100)


if __name__ == "__main__":
    main()
