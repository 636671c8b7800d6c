"""`askai serve` against real clients: the official openai client and plain HTTP against a real
server process on loopback, whose LLM backend is a scripted OpenAI-compatible server (the real
model only in the one slow test). Issue #14."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from askai.answer import REFUSAL

from .conftest import write_docs
from .servers import (
    DOCS_REWRITE,
    DOCS_SCRIPT,
    ScriptedLLMServer,
    askai_env,
    free_port,
    serve,
)

TOKEN = "s3cret-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BUILT = "When was the Harrowgate lighthouse built?"


@pytest.fixture(scope="module")
def llm() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer(DOCS_SCRIPT, rewrite=DOCS_REWRITE).running() as server:
        yield server


def indexed_home(home: Path, llm: ScriptedLLMServer | None) -> Path:
    docs = write_docs(home / "docs")
    subprocess.run([sys.executable, "-m", "askai", "ingest", str(docs), "--quiet"],
                   env=askai_env(home, llm), check=True, capture_output=True, timeout=300)
    return home


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, llm: ScriptedLLMServer) -> Iterator[str]:
    """`askai serve` on every address (0.0.0.0) with a token, reached over loopback."""
    home = indexed_home(tmp_path_factory.mktemp("serve"), llm)
    port = free_port()
    env = askai_env(home, llm, ASKAI_SERVER__TOKEN=TOKEN, ASKAI_SERVER__QUEUE_SIZE="1",
                    ASKAI_UI__MAX_UPLOAD_MB="1")
    cmd = [sys.executable, "-m", "askai", "serve", "--host", "0.0.0.0", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with serve(cmd, f"{url}/healthz", home / "serve.log", 180, env=env):
        yield url


@pytest.fixture
def client(api: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api}/v1", api_key=TOKEN, max_retries=0, timeout=120)


def check_quotes(api: str, citations: list[dict]) -> None:
    """The contract: every quote is the document's text at its offsets, read through the API."""
    assert citations
    for c in citations:
        doc = httpx.get(f"{api}/v1/documents/{c['document_key']}", headers=AUTH, timeout=30)
        assert doc.status_code == 200, doc.text
        assert doc.json()["text"][c["start"]:c["end"]] == c["quote"]
        assert doc.json()["id"] == c["document"]


def test_chat_answer_keeps_markers_and_carries_verified_citations(
    api: str, client: openai.OpenAI
) -> None:
    response = client.chat.completions.create(
        model="askai", messages=[{"role": "user", "content": BUILT}]
    )
    text = response.choices[0].message.content
    assert text == "The Harrowgate lighthouse was built in 1874 by the engineer Mara Quell [1]."
    extra = response.model_extra
    assert extra["refused"] is False and extra["searched"] == BUILT
    [citation] = extra["citations"]
    assert citation["marker"] == 1 and citation["name"] == "lighthouse.txt"
    assert "built in 1874" in citation["quote"]
    assert set(citation) >= {"document", "title", "quote", "start", "end", "location", "support"}
    check_quotes(api, extra["citations"])


def test_streamed_answer_ends_with_the_citations(api: str, client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model="askai", messages=[{"role": "user", "content": BUILT}], stream=True
    ))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "The Harrowgate lighthouse was built in 1874 by the engineer Mara Quell [1]."
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["refused"] is False
    check_quotes(api, last.model_extra["citations"])
    assert all("citations" not in (c.model_extra or {}) for c in chunks[:-1])


def test_earlier_turns_are_the_follow_up_history(
    client: openai.OpenAI, llm: ScriptedLLMServer
) -> None:
    first = client.chat.completions.create(
        model="askai", messages=[{"role": "user", "content": BUILT}],
        extra_body={"sources_footer": True},
    ).choices[0].message.content
    assert "\n\nSources:\n[1] lighthouse.txt" in first
    seen = len(llm.requests)
    response = client.chat.completions.create(model="askai", messages=[
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": BUILT},
        {"role": "assistant", "content": first},
        {"role": "user", "content": "When was it automated?"},
    ])
    assert response.model_extra["searched"] == DOCS_REWRITE
    assert "automated in 1969" in response.choices[0].message.content
    rewrite = next(m for m in llm.requests[seen:] if m[0]["content"].startswith("Rewrite"))
    prompt = rewrite[-1]["content"]
    assert BUILT in prompt and "Mara Quell" in prompt
    assert "Sources:" not in prompt  # the footer this server added is not part of the answer


def test_refusal_is_a_normal_answer(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model="askai", messages=[{"role": "user", "content": "Who founded Zentrix Dynamics?"}]
    )
    assert response.choices[0].message.content == REFUSAL
    assert response.model_extra["refused"] is True and response.model_extra["citations"] == []


def test_models_and_health(api: str, client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["askai"]
    health = httpx.get(f"{api}/healthz", timeout=30).json()  # no token needed
    assert health["status"] == "ok" and health["documents"] >= 3
    schema = httpx.get(f"{api}/openapi.json", timeout=30).json()
    assert {"/v1/chat/completions", "/v1/ask", "/v1/documents"} <= set(schema["paths"])


def test_ask_returns_the_answer_as_json(api: str) -> None:
    response = httpx.post(f"{api}/v1/ask", json={"question": BUILT}, headers=AUTH, timeout=120)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["refused"] is False and "[1]" in answer["text"]
    assert answer["sentences"][0]["supported"] is True and answer["passages"]
    assert "total_s" in answer["timings"]
    for c in answer["citations"]:
        doc = httpx.get(f"{api}/v1/documents/{c['source']}", headers=AUTH, timeout=30).json()
        assert doc["text"][c["start"]:c["end"]] == c["quote"]


def test_bad_requests_get_askai_messages(api: str, client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="empty"):
        client.chat.completions.create(model="askai", messages=[{"role": "user", "content": " "}])
    with pytest.raises(openai.BadRequestError, match="2500 characters long; the limit is 2000"):
        client.chat.completions.create(
            model="askai", messages=[{"role": "user", "content": "x" * 2500}]
        )
    with pytest.raises(openai.BadRequestError, match="last message must be the user's"):
        client.chat.completions.create(
            model="askai", messages=[{"role": "assistant", "content": "hello"}]
        )
    too_big = httpx.post(f"{api}/v1/ask", json={"question": "y" * 300_000}, headers=AUTH,
                         timeout=30)
    assert too_big.status_code == 413 and "limit" in too_big.json()["error"]["message"]
    broken = httpx.post(f"{api}/v1/ask", content=b"{not json", headers={
        **AUTH, "Content-Type": "application/json"}, timeout=30)
    assert broken.status_code == 400 and "Invalid request" in broken.json()["error"]["message"]
    missing = httpx.delete(f"{api}/v1/documents/0123456789abcdef", headers=AUTH, timeout=30)
    assert missing.status_code == 404 and "No document" in missing.json()["error"]["message"]


def test_upload_ask_and_delete(api: str, client: openai.OpenAI) -> None:
    text = b"Quokkas live on Rottnest Island off the coast of Western Australia.\n"
    up = httpx.post(f"{api}/v1/documents", files=[("file", ("../../quokkas.txt", text))],
                    headers=AUTH, timeout=120)
    assert up.status_code == 201, up.text
    [result] = up.json()["results"]
    assert result["status"] == "indexed" and result["name"] == "quokkas.txt"
    listed = httpx.get(f"{api}/v1/documents", headers=AUTH, timeout=30).json()["documents"]
    [doc] = [d for d in listed if d["key"] == result["key"]]
    assert "/uploads/" in doc["id"] and doc["id"].endswith("/quokkas.txt")  # askai's own copy

    answer = client.chat.completions.create(
        model="askai", messages=[{"role": "user", "content": "Where do quokkas live?"}]
    )
    assert answer.model_extra["citations"][0]["document_key"] == result["key"]

    again = httpx.post(f"{api}/v1/documents", files=[("file", ("quokkas.txt", text))],
                       headers=AUTH, timeout=120)
    assert again.status_code == 200 and again.json()["results"][0]["status"] == "unchanged"
    gone = httpx.delete(f"{api}/v1/documents/{result['key']}", headers=AUTH, timeout=60)
    assert gone.status_code == 200 and gone.json()["deleted"]["key"] == result["key"]
    assert not Path(doc["id"]).exists()
    assert httpx.get(f"{api}/v1/documents/{result['key']}", headers=AUTH,
                     timeout=30).status_code == 404

    bad = httpx.post(f"{api}/v1/documents", files=[("file", ("tool.exe", b"MZ\x90\x00"))],
                     headers=AUTH, timeout=60)
    assert bad.status_code == 400 and "unsupported file type" in bad.json()["error"]["message"]
    big = httpx.post(f"{api}/v1/documents", files=[("file", ("big.txt", b"a " * 600_000))],
                     headers=AUTH, timeout=60)  # 1.2 MB; ui.max_upload_mb is 1 here
    assert big.status_code == 413


def test_token_is_required(api: str) -> None:
    for key in ("", "wrong-token"):
        anonymous = openai.OpenAI(base_url=f"{api}/v1", api_key=key or "none", max_retries=0)
        if not key:
            anonymous = anonymous.with_options(default_headers={"Authorization": ""})
        with pytest.raises(openai.AuthenticationError, match="bearer token"):
            anonymous.chat.completions.create(
                model="askai", messages=[{"role": "user", "content": BUILT}]
            )
    for method, path in [("GET", "/v1/documents"), ("POST", "/v1/ask"), ("GET", "/v1/models"),
                         ("DELETE", "/v1/documents/x")]:
        response = httpx.request(method, f"{api}{path}", json={}, timeout=30)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_an_open_address_needs_a_token(tmp_path: Path) -> None:
    env = askai_env(tmp_path, None, ASKAI_LLM__BACKEND="openai",
                    ASKAI_LLM__BASE_URL="http://127.0.0.1:9/v1")  # never the real model
    try:
        done = subprocess.run(
            [sys.executable, "-m", "askai", "serve", "--host", "0.0.0.0", "--port",
             str(free_port())], env=env, capture_output=True, text=True, timeout=120,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("askai serve served 0.0.0.0 without a token")
    assert done.returncode == 1
    assert "ASKAI_SERVER__TOKEN" in done.stderr and "server.token" in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def _stream_in_background(api: str, started: list[int]) -> threading.Thread:
    def run() -> None:
        with httpx.stream("POST", f"{api}/v1/chat/completions", headers=AUTH, timeout=120, json={
            "model": "askai", "stream": True, "messages": [{"role": "user", "content": BUILT}],
        }) as response:
            started.append(response.status_code)
            for _ in response.iter_lines():
                pass

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _until(condition, seconds: float = 60) -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_full_queue_answers_429(api: str, llm: ScriptedLLMServer) -> None:
    llm.delay = 0.3  # the answer streams for about 4 s
    statuses: list[int] = []
    try:
        streams = len(llm.streams)
        running = _stream_in_background(api, statuses)
        _until(lambda: len(llm.streams) > streams)  # it holds the model
        waiting = _stream_in_background(api, statuses)  # the one place in the queue (size 1)
        _until(lambda: httpx.get(f"{api}/healthz", timeout=30).json()["questions"] == 2)
        busy = httpx.post(f"{api}/v1/ask", json={"question": BUILT}, headers=AUTH, timeout=30)
        assert busy.status_code == 429
        assert busy.headers["Retry-After"] == "5"
        assert "busy" in busy.json()["error"]["message"]
        with pytest.raises(openai.RateLimitError):
            openai.OpenAI(base_url=f"{api}/v1", api_key=TOKEN, max_retries=0).chat.completions \
                .create(model="askai", messages=[{"role": "user", "content": BUILT}])
    finally:
        llm.delay = 0.0
    running.join(60)
    waiting.join(60)
    assert statuses == [200, 200]
    assert httpx.get(f"{api}/healthz", timeout=30).json()["questions"] == 0


def test_a_client_that_leaves_stops_its_generation(api: str, llm: ScriptedLLMServer) -> None:
    llm.delay = 0.5  # 14 words: 7 s if nobody stops it
    try:
        streams = len(llm.streams)
        with httpx.stream("POST", f"{api}/v1/chat/completions", headers=AUTH, timeout=60, json={
            "model": "askai", "stream": True, "messages": [{"role": "user", "content": BUILT}],
        }) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            assert '"role": "assistant"' in next(lines)
            _until(lambda: len(llm.streams) > streams and llm.streams[-1]["sent"] >= 1)
        record = llm.streams[-1]  # the client hung up after the first word was generated
        _until(lambda: record["closed"], 30)
        assert record["finished"] is False and record["sent"] < record["words"]
        _until(lambda: httpx.get(f"{api}/healthz", timeout=30).json()["questions"] == 0, 30)
    finally:
        llm.delay = 0.0


def test_a_client_that_leaves_before_a_whole_answer_stops_it_too(
    api: str, llm: ScriptedLLMServer
) -> None:
    llm.delay = 0.5  # not streamed: the client gives up waiting after 2 s
    try:
        streams = len(llm.streams)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{api}/v1/chat/completions", headers=AUTH, timeout=2, json={
                "model": "askai", "messages": [{"role": "user", "content": BUILT}]})
        _until(lambda: len(llm.streams) > streams)
        record = llm.streams[-1]
        _until(lambda: record["closed"], 30)
        assert record["finished"] is False and record["sent"] < record["words"]
        _until(lambda: httpx.get(f"{api}/healthz", timeout=30).json()["questions"] == 0, 30)
    finally:
        llm.delay = 0.0


@pytest.mark.slow
def test_real_model_answer_through_the_openai_client(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The real GGUF model behind `askai serve` on loopback, no token: a streamed answer whose
    citations hold."""
    home = indexed_home(tmp_path_factory.mktemp("real"), None)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "askai", "serve", "--port", str(port)]
    with serve(cmd, f"{url}/healthz", home / "serve.log", 300, env=askai_env(home, None)):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0,
                               timeout=600)
        chunks = list(client.chat.completions.create(
            model="askai", messages=[{"role": "user", "content": BUILT}], stream=True
        ))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    extra = chunks[-1].model_extra
    assert extra["refused"] is False and "1874" in text and "[1]" in text
    for c in extra["citations"]:
        doc = Path(c["document"]).read_text(encoding="utf-8")
        assert doc[c["start"]:c["end"]] == c["quote"]
