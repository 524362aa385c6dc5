"""A server of the session era only (run with mcp 1.x, which knows no 2026-07-28), with the conformance suite's
``input-required-result`` tools written the way such servers ask their client: elicitation, sampling and roots
requests in the middle of a call. Through mcpctl's proxy a 2026-07-28 client gets them as InputRequiredResults.

Also ``whoami``-style basics the era tests use. Run: ``python session_era_server.py`` (stdio).
"""

from __future__ import annotations

from mcp.server.fastmcp import Context, FastMCP
from mcp.types import ModelPreferences, SamplingMessage, TextContent
from pydantic import BaseModel

mcp = FastMCP("session-era-server")


class Name(BaseModel):
    name: str


class Color(BaseModel):
    color: str


class Ok(BaseModel):
    ok: bool


@mcp.tool()
def test_simple_text() -> str:
    """A plain answer."""
    return "This is a simple text response for testing."


@mcp.resource("test://static-text", mime_type="text/plain")
def static_text() -> str:
    """A text resource."""
    return "This is the content of the static text resource."


@mcp.tool()
async def test_input_required_result_elicitation(ctx: Context) -> str:
    """Asks the user's name."""
    answer = await ctx.elicit("What is your name?", Name)
    return f"Hello, {answer.data.name}!" if answer.action == "accept" else "Hello, stranger!"


@mcp.tool()
async def test_input_required_result_sampling(ctx: Context) -> str:
    """Asks the client's model."""
    result = await ctx.session.create_message(
        messages=[SamplingMessage(role="user", content=TextContent(type="text", text="What is the capital of France?"))],
        max_tokens=100, model_preferences=ModelPreferences())
    return f"Model said: {result.content.text if isinstance(result.content, TextContent) else '?'}"


@mcp.tool()
async def test_input_required_result_list_roots(ctx: Context) -> str:
    """Asks the client's roots."""
    roots = await ctx.session.list_roots()
    return "Roots: " + ", ".join(str(root.uri) for root in roots.roots)


@mcp.tool()
async def test_input_required_result_multi_round(ctx: Context) -> str:
    """Asks twice, the second question after the first answer."""
    name = await ctx.elicit("What is your name?", Name)
    color = await ctx.elicit("What is your favourite colour?", Color)
    if name.action != "accept" or color.action != "accept":
        return "Declined."
    return f"{name.data.name} likes {color.data.color}."


@mcp.tool()
async def test_input_required_result_tampered_state(ctx: Context) -> str:
    """Asks for a confirmation."""
    answer = await ctx.elicit("Confirm?", Ok)
    return f"Confirmed: {answer.action == 'accept' and answer.data.ok}"


if __name__ == "__main__":
    mcp.run()
