"""Resolving the client's settings: key, workspace and URL from arguments or environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from cutpro_async import ConfigurationError, CutPro, NotFound, UsageError, __version__
from cutpro_async._settings import DEFAULT_BASE_URL, USER_AGENT
from cutpro_async.testing import FakeCutPro

pytestmark = pytest.mark.anyio

KEY = "cp_live_secret_0123456789abcdef"
ENV = ("CUTPRO_API_KEY", "CUTPRO_WORKSPACE_ID", "CUTPRO_API_URL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CutPro variables leak in from the environment running the tests, nor a login saved
    by the user running them."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CUTPRO_CONFIG_DIR", str(tmp_path / "config"))


def test_no_key_is_a_configuration_error_naming_the_variable() -> None:
    """Without an argument, CUTPRO_API_KEY or a saved login the client refuses to start,
    saying every way to give a key, where keys are made, and how to try it without one."""
    with pytest.raises(ConfigurationError) as caught:
        CutPro()
    text = str(caught.value)
    for advice in (
        "CUTPRO_API_KEY",
        "cutpro login",
        "api_key=",
        "https://cut.pro/studio/me/api-keys",
        "cutpro_async.testing.FakeCutPro",
    ):
        assert advice in text
    assert isinstance(caught.value, UsageError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("key", ["", "   ", "cp_live\nX-Evil: 1", "cp\r\n"])
def test_blank_or_multiline_keys_are_refused(key: str) -> None:
    """An empty, blank or line-broken key is a `ConfigurationError` (no header injection)."""
    with pytest.raises(ConfigurationError):
        CutPro(key)


def test_the_key_is_stripped() -> None:
    """Surrounding whitespace (e.g. a newline read from a file) is removed."""
    assert CutPro(f"  {KEY}  ").settings.api_key == KEY


def test_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """CUTPRO_API_KEY, CUTPRO_WORKSPACE_ID and CUTPRO_API_URL fill in missing arguments."""
    monkeypatch.setenv("CUTPRO_API_KEY", KEY)
    monkeypatch.setenv("CUTPRO_WORKSPACE_ID", "pw123")
    monkeypatch.setenv("CUTPRO_API_URL", "https://staging.cut.pro/api/v1/")
    settings = CutPro().settings
    assert settings.api_key == KEY
    assert settings.workspace_id == "pw123"
    assert settings.base_url == "https://staging.cut.pro/api/v1"


def test_arguments_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Explicit arguments win over the environment."""
    monkeypatch.setenv("CUTPRO_API_KEY", "cp_env")
    monkeypatch.setenv("CUTPRO_WORKSPACE_ID", "pw_env")
    monkeypatch.setenv("CUTPRO_API_URL", "https://env.example/api/v1")
    settings = CutPro(KEY, workspace_id="pw_arg", base_url="https://arg.example/v1").settings
    assert (settings.api_key, settings.workspace_id, settings.base_url) == (
        KEY,
        "pw_arg",
        "https://arg.example/v1",
    )


def test_defaults_without_environment() -> None:
    """With only a key: the public API URL and no workspace header."""
    settings = CutPro(KEY).settings
    assert settings.base_url == DEFAULT_BASE_URL
    assert settings.base_url.startswith("https://")
    assert settings.workspace_id is None


async def test_a_client_configured_only_by_environment_works(
    fake: FakeCutPro, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`CutPro()` with the three variables set talks to the right workspace."""
    monkeypatch.setenv("CUTPRO_API_KEY", fake.api_key)
    monkeypatch.setenv("CUTPRO_WORKSPACE_ID", fake.workspace_id)
    monkeypatch.setenv("CUTPRO_API_URL", fake.base_url)
    async with CutPro() as cp:
        assert (await cp.workspace.get()).id == fake.workspace_id


@pytest.mark.parametrize("url", ["http://example.com/api/v1", "http://10.0.0.5/api/v1"])
def test_plain_http_to_another_host_is_refused(url: str) -> None:
    """Plain http off this machine would expose the key: refused unless explicitly allowed."""
    with pytest.raises(ConfigurationError) as caught:
        CutPro(KEY, base_url=url)
    assert "allow_insecure_http" in str(caught.value)
    assert CutPro(KEY, base_url=url, allow_insecure_http=True).settings.base_url == url


def test_plain_http_from_the_environment_is_refused_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The https rule applies to CUTPRO_API_URL as well."""
    monkeypatch.setenv("CUTPRO_API_URL", "http://example.com")
    with pytest.raises(ConfigurationError):
        CutPro(KEY)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/api/v1", "http://localhost/api/v1", "http://[::1]:9000/v1"]
)
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    """Loopback addresses (a local simulator) may use plain http."""
    assert CutPro(KEY, base_url=url).settings.base_url == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://api.cut.pro/v1",
        "api.cut.pro/api/v1",
        "https://user:pw@api.cut.pro/v1",
        "https://api.cut.pro/v1?x=1",
        "https://api.cut.pro/v1#frag",
    ],
)
def test_malformed_base_urls_are_refused(url: str) -> None:
    """Other schemes, missing hosts, credentials, queries and fragments are refused."""
    with pytest.raises(ConfigurationError):
        CutPro(KEY, base_url=url)


def test_reprs_never_contain_the_key() -> None:
    """`repr`/`str` of the client and of its settings leave the key out."""
    cp = CutPro(KEY, workspace_id="pw1")
    for text in (repr(cp), str(cp), repr(cp.settings), str(cp.settings)):
        assert KEY not in text
    assert "pw1" in repr(cp)
    assert DEFAULT_BASE_URL in repr(cp)


def test_user_agent_names_package_and_version() -> None:
    """The User-Agent is `cutpro-async/<version>`."""
    assert f"cutpro-async/{__version__}" == USER_AGENT


@pytest.mark.parametrize("key", [123, b"bytes-key", ["k"]])
def test_a_key_that_is_not_a_string_is_a_configuration_error(key: object) -> None:
    """`api_key=123` is refused with what to pass, not an `AttributeError`."""
    with pytest.raises(ConfigurationError, match="must be a string"):
        CutPro(key)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_a_404_from_an_api_url_without_api_v1_says_so() -> None:
    """`CUTPRO_API_URL` without `/api/v1`: the 404 asks whether the API URL is right, instead
    of advising to check the id."""
    async with FakeCutPro() as fake:
        root = fake.base_url.removesuffix("/api/v1")
        async with CutPro(fake.api_key, base_url=root) as cp:
            with pytest.raises(NotFound) as caught:
                await cp.balance.get()
    assert "ends in /api/v1" in str(caught.value)
    assert "check the id" not in str(caught.value)
