"""Who may reach the page: a non-loopback address needs credentials, and credentials once set
protect the page and its API (issue #17, section 6)."""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from askai.access import is_loopback, require_credentials
from askai.engine import Engine
from askai.errors import ConfigError

from .conftest import ScriptedLLM, make_settings
from .servers import free_port


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True),
        ("localhost", True), ("LocalHost.", True), ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False), ("::", False), ("", False), ("192.168.1.20", False),
        ("10.0.0.1", False), ("no-such-host.invalid", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_open_address_needs_credentials() -> None:
    none = SecretStr("")
    assert require_credentials("127.0.0.1", "", none, section="ui") is None
    with pytest.raises(ConfigError) as info:
        require_credentials("0.0.0.0", "", none, section="ui")
    message = str(info.value)
    for name in ("ui.username", "ui.password", "ASKAI_UI__USERNAME", "ASKAI_UI__PASSWORD"):
        assert name in message
    with pytest.raises(ConfigError, match="ui.password is empty"):
        require_credentials("127.0.0.1", "reader", none, section="ui")
    login = require_credentials("0.0.0.0", "reader", SecretStr("s3cret-pw"), section="ui")
    assert login is not None and login.username == "reader"
    assert "s3cret-pw" not in repr(login) and "s3cret-pw" not in str(login)


def _ui(env: dict[str, str], host: str, port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "askai", "ui", "--host", host, "--port", str(port)],
        env=env, capture_output=True, text=True, timeout=120,
    )


def test_askai_ui_refuses_an_open_address_without_credentials(tmp_path: Path) -> None:
    env = {
        **os.environ, "ASKAI_STORE__PATH": str(tmp_path / "chroma"),
        # never the real model: an OpenAI-compatible backend nobody serves
        "ASKAI_LLM__BACKEND": "openai", "ASKAI_LLM__BASE_URL": "http://127.0.0.1:9/v1",
    }
    env.pop("ASKAI_UI__USERNAME", None)
    env.pop("ASKAI_UI__PASSWORD", None)
    try:
        done = _ui(env, "0.0.0.0", free_port())
    except subprocess.TimeoutExpired:
        pytest.fail("askai ui served 0.0.0.0 without credentials")
    assert done.returncode == 1
    assert "ASKAI_UI__USERNAME" in done.stderr and "ASKAI_UI__PASSWORD" in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    # a password without a user name is refused too, and never echoed
    env["ASKAI_UI__PASSWORD"] = "s3cret-pw"
    done = _ui(env, "0.0.0.0", free_port())
    assert done.returncode == 1 and "ui.username is empty" in done.stderr
    assert "s3cret-pw" not in done.stderr + done.stdout


USER, PASSWORD = "reader", "correct horse battery"


@pytest.fixture(scope="module")
def protected(
    tmp_path_factory: pytest.TempPathFactory, embedder: object
) -> Iterator[tuple[str, Engine]]:
    from askai.ui import serve

    home = tmp_path_factory.mktemp("protected")
    settings = make_settings(home, ui={"upload_dir": str(home / "uploads"), "username": USER,
                                       "password": PASSWORD})
    engine = Engine(settings, embedder=embedder, llm=ScriptedLLM("unused"))
    port = free_port()
    app = serve(engine, host="127.0.0.1", port=port, block=False)  # loopback: login still asked
    try:
        yield f"http://127.0.0.1:{port}/", engine
    finally:
        app.close()


def test_with_credentials_the_page_needs_a_login(protected: tuple[str, Engine]) -> None:
    url, _ = protected
    for path in ("config", "gradio_api/info", "gradio_api/upload_progress"):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url + path, timeout=30)
        assert info.value.code == 401, path


def test_with_credentials_upload_and_delete_need_them(
    protected: tuple[str, Engine], tmp_path: Path
) -> None:
    from gradio_client import Client, handle_file

    url, engine = protected
    doc = tmp_path / "quokkas.txt"
    doc.write_text("Quokkas live on Rottnest Island off the coast of Western Australia.\n")
    with pytest.raises(Exception):  # noqa: B017 - gradio_client raises its own error types
        Client(url, verbose=False)
    with pytest.raises(Exception):  # noqa: B017
        Client(url, auth=(USER, "wrong password"), verbose=False)
    assert engine.documents() == []

    client = Client(url, auth=(USER, PASSWORD), verbose=False)
    status = client.predict([handle_file(str(doc))], api_name="/upload")[0]
    assert "quokkas.txt: indexed" in status
    [record] = engine.documents()
    status = client.predict(record.doc_id, api_name="/delete")[0]
    assert "deleted" in status and engine.documents() == []
