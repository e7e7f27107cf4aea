"""Drives an MCP server with the official Python MCP client (`pip install mcp`).

Used by the Rust end-to-end tests (tests/tests/e2e/mcp_front.rs, mcp_gateway.rs). Reads one JSON plan from
argv[1]:

  {"transport": "stdio", "command": ["tool-executor", "mcp", ...]}
  {"transport": "http", "url": "http://127.0.0.1:PORT/mcp", "bearer": "<base64 grant>"|null}
  plus "calls": [{"name": "fs_read", "arguments": {...}}, ...]

and prints one JSON object: the listed tools (name, description, input schema) and, per call,
whether it was a tool error, its structured content and text, or the protocol error raised.
"""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def exercise(session, calls):
    await session.initialize()
    try:
        listed = await session.list_tools()
    except Exception as error:  # a JSON-RPC error (a forged grant, say): recorded, not fatal
        return {"tools": [], "listError": str(error), "calls": []}
    tools = [
        {"name": t.name, "description": t.description, "inputSchema": t.input_schema}
        for t in listed.tools
    ]
    results = []
    for call in calls:
        try:
            result = await session.call_tool(call["name"], call.get("arguments") or {})
            text = "".join(getattr(c, "text", "") for c in result.content)
            results.append(
                {
                    "isError": bool(result.is_error),
                    "structured": result.structured_content,
                    "text": text,
                }
            )
        except Exception as error:  # a JSON-RPC error: recorded, not fatal
            results.append({"protocolError": str(error)})
    return {"tools": tools, "calls": results}


async def main(plan):
    calls = plan.get("calls", [])
    if plan["transport"] == "stdio":
        command = plan["command"]
        params = StdioServerParameters(command=command[0], args=command[1:], env=plan.get("env"))
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                return await exercise(session, calls)
    headers = {}
    if plan.get("bearer"):
        headers["Authorization"] = "Bearer " + plan["bearer"]
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(plan["url"], http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                return await exercise(session, calls)


if __name__ == "__main__":
    outcome = asyncio.run(main(json.loads(sys.argv[1])))
    print(json.dumps(outcome))
