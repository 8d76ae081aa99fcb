"""Local-file helpers: safe file names, redacted URLs, clear errors, safe target paths."""

from __future__ import annotations

import errno
import unicodedata
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cutpro_async.errors import LocalFileError
from cutpro_async.jobs._common import target_path
from cutpro_async.jobs._files import MAX_NAME_BYTES, local_error, redact_url, sanitize_filename

WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{p}{i}" for p in ("COM", "LPT") for i in "123456789"
}
FORBIDDEN = set('<>:"/\\|?*') | {chr(c) for c in range(32)} | {"\x7f"}


def assert_safe(name: str) -> None:
    """A single, visible, portable file name of at most 200 bytes."""
    assert name
    assert not FORBIDDEN & set(name), name
    assert not name.startswith("."), name
    assert name not in (".", "..")
    assert len(name.encode()) <= MAX_NAME_BYTES


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Focus: money 50/50.mp4", "Focus_ money 50_50.mp4"),
        ("a\\b.mp4", "a_b.mp4"),
        ("tab\there\nnew.mp4", "tab_here_new.mp4"),
        ("..hidden.mp4", "hidden.mp4"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ("  spaced . ", "spaced"),
        ('a<b>c"d|e?f*g.mp4', "a_b_c_d_e_f_g.mp4"),
    ],
)
def test_sanitize_replaces_unsafe_characters(raw: str, expected: str) -> None:
    """Separators, control characters and leading dots do not survive sanitising."""
    assert sanitize_filename(raw) == expected
    assert_safe(sanitize_filename(raw))


@pytest.mark.parametrize("raw", ["", ".", "..", "...", "   ", " . . "])
def test_empty_names_fall_back(raw: str) -> None:
    """A name with nothing left after cleaning becomes the fallback."""
    assert sanitize_filename(raw) == "download"
    assert sanitize_filename(raw, fallback="r1.mp4") == "r1.mp4"


def test_long_names_are_capped_keeping_the_extension() -> None:
    """A name over 200 bytes is shortened from its stem, keeping `.mp4`."""
    for stem in ("x" * 500, "é" * 300, "名" * 150):
        name = sanitize_filename(stem + ".mp4")
        assert name.endswith(".mp4")
        assert len(name.encode()) <= MAX_NAME_BYTES
        assert stem.startswith(name.removesuffix(".mp4"))


def test_names_are_nfc_normalised() -> None:
    """A decomposed accent is composed, so the same title gives the same file name."""
    assert sanitize_filename("cafe\u0301.mp4") == "caf\u00e9.mp4"


short_ext = st.text(st.characters(codec="utf-8", categories=["L", "N"]), min_size=1, max_size=8)


@given(stem=st.text(max_size=400), ext=short_ext)
@example(stem="", ext="mp4")
@example(stem="..", ext="mp4")
@example(stem="/" * 300, ext="mp4")
def test_sanitized_names_are_always_safe(stem: str, ext: str) -> None:
    """Whatever the stem (with a short extension), the result is one safe, short name."""
    assert_safe(sanitize_filename(f"{stem}.{ext}"))


@given(st.text(st.characters(codec="utf-8", exclude_characters="."), max_size=400))
@example("")
@example("\x00" * 300)
def test_sanitized_names_without_extension_are_safe(name: str) -> None:
    """A name with no dot at all also comes out as one safe, short name."""
    assert_safe(sanitize_filename(name))


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 _-]{0,60}[A-Za-z0-9]\.(mp4|zip|mov)", fullmatch=True))
def test_safe_names_are_left_alone(name: str) -> None:
    """A name that is already safe comes back unchanged."""
    assert sanitize_filename(name) == name


def test_long_extension_is_still_capped() -> None:
    """Even a name whose extension alone exceeds 200 bytes comes out safe."""
    assert_safe(sanitize_filename("a." + "b" * 300))


@pytest.mark.parametrize("raw", ["CON.mp4", "nul.mp4", "COM1", "lpt9.zip", "AUX"])
def test_reserved_device_names_are_changed(raw: str) -> None:
    """Names Windows reserves for devices (CON, NUL, COM1...) do not come out unchanged."""
    stem = sanitize_filename(raw).split(".")[0]
    assert stem.upper() not in WINDOWS_RESERVED


@pytest.mark.parametrize("control", ["\x85", "\x9b", "\u2028"])
def test_unicode_control_characters_are_removed(control: str) -> None:
    """Control and line-separator characters beyond ASCII are removed too."""
    name = sanitize_filename(f"a{control}b.mp4")
    assert all(unicodedata.category(c) not in ("Cc", "Zl", "Zp") for c in name)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://files.example.com/files/render/r1/x.mp4?expires=1&signature=abc",
            "https://files.example.com/files/render/r1/x.mp4",
        ),
        ("http://user:secret@127.0.0.1:8080/a/b?token=t#frag", "http://127.0.0.1:8080/a/b"),
        ("https://host/plain", "https://host/plain"),
    ],
)
def test_redact_url_drops_query_and_credentials(url: str, expected: str) -> None:
    """A redacted URL keeps scheme, host, port and path, never the query or the userinfo."""
    assert redact_url(url) == expected


secret = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=6, max_size=20)


@given(
    scheme=st.sampled_from(["http", "https"]),
    user=st.none() | secret,
    host=st.sampled_from(["storage.example.com", "127.0.0.1", "localhost"]),
    port=st.none() | st.integers(1, 65535),
    path=st.from_regex(r"(/[A-Za-z0-9_.%-]{1,12}){0,4}", fullmatch=True),
    signature=secret,
)
def test_redact_url_never_shows_secrets(
    scheme: str, user: str | None, host: str, port: int | None, path: str, signature: str
) -> None:
    """Whatever the URL, its signature and password are absent from the redacted form."""
    auth = f"{user}:pw{signature}@" if user else ""
    netloc = f"{auth}{host}" + (f":{port}" if port else "")
    url = f"{scheme}://{netloc}{path}?expires=1&signature=sig{signature}"
    redacted = redact_url(url)
    assert f"sig{signature}" not in redacted and f"pw{signature}" not in redacted
    assert "@" not in redacted and "?" not in redacted
    assert redacted == f"{scheme}://{host}" + (f":{port}" if port else "") + path


def test_redact_url_keeps_ipv6_brackets() -> None:
    """An IPv6 host stays bracketed so the redacted URL is still a URL."""
    assert redact_url("http://[::1]:8080/files/x?signature=s") == "http://[::1]:8080/files/x"


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        (errno.ENOSPC, "disk space"),
        (errno.EACCES, "permissions"),
        (errno.EROFS, "writable"),
        (errno.EIO, "check the path"),
    ],
)
def test_local_errors_say_what_to_do(code: int, advice: str) -> None:
    """A failed file operation becomes a `LocalFileError` (an `OSError`) with advice."""
    error = local_error("write", Path("/out/x.mp4.part"), OSError(code, "boom"))
    assert isinstance(error, LocalFileError) and isinstance(error, OSError)
    assert error.errno == code
    assert advice in str(error) and "/out/x.mp4.part" in str(error)


@pytest.mark.parametrize("name", ["..", ".", "", "a/b.mp4", "../x.mp4"])
def test_target_path_refuses_escaping_names(tmp_path: Path, name: str) -> None:
    """A name that is empty, a dot entry or a sub-path is refused."""
    with pytest.raises(ValueError):
        target_path(tmp_path, name)


def test_target_path_joins_a_plain_name(tmp_path: Path) -> None:
    """A plain name lands directly in the folder."""
    assert target_path(tmp_path, "x.mp4") == tmp_path / "x.mp4"
    assert target_path(str(tmp_path) + "/", "x.mp4") == tmp_path / "x.mp4"
