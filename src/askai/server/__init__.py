"""askai's servers for other tools: an OpenAI-compatible HTTP API (``askai serve``,
:mod:`askai.server.app`) and an MCP server (``askai mcp``, :mod:`askai.server.mcp_server`).
Both answer through the engine and carry the verified citations as structured data."""
