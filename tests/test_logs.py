"""Logs for people and machines: text at a terminal, JSON lines otherwise, and the start line."""

import io
import json
import logging

import pytest

from app.logs import JsonFormatter, TextFormatter, chosen_format, configure, start_line


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def record(message: str, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, message, (), None)
    made.__dict__.update(extra)
    return made


@pytest.mark.parametrize(
    ("setting", "terminal", "expected"),
    [
        ("auto", True, "text"),
        ("auto", False, "json"),
        ("json", True, "json"),
        ("text", False, "text"),
        (" TEXT ", False, "text"),
    ],
)
def test_format_follows_the_stream_unless_set(setting: str, terminal: bool, expected: str) -> None:
    stream = Terminal() if terminal else io.StringIO()
    assert chosen_format(setting, stream) == expected


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="LOG_FORMAT must be one of auto, json, text"):
        chosen_format("yaml", io.StringIO())


def test_the_default_setting_is_auto() -> None:
    from app.settings import Settings

    assert Settings(_env_file=None).log_format == "auto"  # type: ignore[call-arg]


def logged(stream: io.StringIO, message: str, **extra: object) -> str:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure("INFO", "auto", stream)
    try:
        # A logger of our own: a uvicorn run earlier in the session may have set uvicorn's
        # loggers not to propagate. The `color_message` extra is what uvicorn attaches.
        logging.getLogger("tests.logs").info(message, extra=extra)
    finally:
        root.handlers[:], root.level = handlers, level
    return stream.getvalue()


def test_a_terminal_gets_readable_lines() -> None:
    out = logged(
        Terminal(),
        "Uvicorn running",
        color_message="\x1b[1mUvicorn running\x1b[0m",
        delivery_id="d1",
        repo="octo/ops",
    )
    assert out.count("\n") == 1 and not out.lstrip().startswith("{")
    assert "INFO" in out and "Uvicorn running  delivery_id=d1 repo=octo/ops" in out
    assert "\x1b" not in out


def test_a_pipe_gets_json_without_ansi_escapes() -> None:
    out = logged(io.StringIO(), "Uvicorn running", color_message="\x1b[1mUvicorn\x1b[0m")
    data = json.loads(out)
    assert data["message"] == "Uvicorn running" and "color_message" not in data
    assert "\x1b" not in out and "\\u001b" not in out


def test_text_escapes_control_characters_from_github() -> None:
    line = TextFormatter().format(record("title %s", title="\x1b]8;;evil\x07x"))
    assert "\x1b" not in line and "\x07" not in line and "\\x1b" in line
    assert json.loads(JsonFormatter().format(record("ok")))["logger"] == "uvicorn.error"


def test_start_line_points_at_set_up_or_dashboard() -> None:
    unconfigured = start_line(port=3000, public_url=None, configured=False)
    assert unconfigured.startswith("Incident Flow on http://127.0.0.1:3000/ — open ")
    assert "set-up link printed next to register the App" in unconfigured
    assert "http://127.0.0.1:3000/sandbox" in unconfigured
    configured = start_line(port=3000, public_url="https://ops.example/", configured=True)
    assert configured == (
        "Incident Flow on https://ops.example/ — open https://ops.example/ for the dashboard"
    )


async def test_the_service_logs_the_start_line(
    harness_for, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.INFO):
        await harness_for()
    assert any(
        m.startswith("Incident Flow on ") and "for the dashboard" in m for m in caplog.messages
    )
