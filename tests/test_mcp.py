"""`askai mcp` against the official MCP SDK's client: over stdio (the client starts askai) and
streamable HTTP (with the token rule). The LLM is the scripted OpenAI-compatible server of
tests/servers.py. Issue #14."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from askai.answer import REFUSAL

from .servers import (
    DOCS_REWRITE,
    DOCS_SCRIPT,
    ScriptedLLMServer,
    askai_env,
    free_port,
    serve,
)
from .test_server import BUILT, indexed_home

TOKEN = "mcp-test-token"


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer(DOCS_SCRIPT, rewrite=DOCS_REWRITE).running() as server:
        yield server


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, llm: ScriptedLLMServer) -> Path:
    return indexed_home(tmp_path_factory.mktemp("mcp"), llm)


def _stdio(home: Path, llm: ScriptedLLMServer) -> Any:
    from mcp import StdioServerParameters

    return StdioServerParameters(command=sys.executable, args=["-m", "askai", "mcp"],
                                 env=askai_env(home, llm))


async def _session(server: Any, work: Any) -> Any:
    from mcp import Client

    async with Client(server, read_timeout_seconds=120) as client:
        return await work(client)


def test_stdio_tools_and_resources(home: Path, llm: ScriptedLLMServer) -> None:
    async def work(client: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"tools": (await client.list_tools()).tools}
        out["ask"] = await client.call_tool("ask", {"question": BUILT})
        out["refused"] = await client.call_tool("ask", {"question": "Who founded Zentrix Labs?"})
        out["empty"] = await client.call_tool("ask", {"question": "  "})
        out["search"] = await client.call_tool("search", {"question": "lighthouse automated",
                                                          "top_k": 2})
        out["documents"] = await client.call_tool("list_documents", {})
        out["resources"] = (await client.list_resources()).resources
        out["texts"] = {str(r.uri): (await client.read_resource(str(r.uri))).contents[0].text
                        for r in out["resources"]}
        return out

    out = asyncio.run(_session(_stdio(home, llm), work))
    assert {t.name for t in out["tools"]} == {"ask", "search", "list_documents"}

    ask = out["ask"]
    assert ask.is_error is False
    answer = ask.structured_content
    assert answer["text"] == (
        "The Harrowgate lighthouse was built in 1874 by the engineer Mara Quell [1]."
    )
    assert answer["refused"] is False
    [citation] = answer["citations"]
    assert citation["marker"] == 1 and citation["name"] == "lighthouse.txt"
    assert json.loads(ask.content[0].text) == answer  # the same as text, for older clients

    texts = out["texts"]  # each document as a resource: the quotes index into them
    assert texts[f"askai://documents/{citation['document_key']}"][
        citation["start"]:citation["end"]] == citation["quote"]

    refused = out["refused"].structured_content
    assert refused["refused"] is True and refused["text"] == REFUSAL and not refused["citations"]
    assert out["empty"].is_error is True and "empty" in out["empty"].content[0].text

    passages = out["search"].structured_content["passages"]
    assert 1 <= len(passages) <= 2 and "automated in 1969" in passages[0]["text"]
    for p in passages:
        assert texts[f"askai://documents/{p['document_key']}"][p["start"]:p["end"]] == p["text"]

    documents = out["documents"].structured_content["documents"]
    assert sorted(d["name"] for d in documents) == ["bakery.md", "lighthouse.txt", "page.html"]
    assert {f"askai://documents/{d['key']}" for d in documents} == set(texts)


def test_streamable_http_needs_the_token(home: Path, llm: ScriptedLLMServer) -> None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    env = askai_env(home, llm, ASKAI_SERVER__TOKEN=TOKEN)
    cmd = [sys.executable, "-m", "askai", "mcp", "--transport", "http", "--port", str(port)]

    async def work(client: Any) -> Any:
        return await client.call_tool("search", {"question": "When did Orvale Bakery open?"})

    with serve(cmd, f"http://127.0.0.1:{port}/healthz", home / "mcp-http.log", 180, env=env):
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30).json() == {"status": "ok"}
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = httpx.post(url, json={}, headers=headers, timeout=30)
            assert response.status_code == 401 and "server.token" in response.text
        transport = streamable_http_client(
            url, http_client=httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"},
                                                timeout=120))
        result = asyncio.run(_session(transport, work))
    passages = result.structured_content["passages"]
    assert "Pennick" in passages[0]["text"]


def test_streamable_http_on_an_open_address_needs_a_token(tmp_path: Path) -> None:
    import subprocess

    env = askai_env(tmp_path, None, ASKAI_LLM__BACKEND="openai",
                    ASKAI_LLM__BASE_URL="http://127.0.0.1:9/v1")  # never the real model
    try:
        done = subprocess.run(
            [sys.executable, "-m", "askai", "mcp", "--transport", "http", "--host", "0.0.0.0",
             "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=120,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("askai mcp served 0.0.0.0 without a token")
    assert done.returncode == 1 and "ASKAI_SERVER__TOKEN" in done.stderr
    assert "Traceback" not in done.stderr
