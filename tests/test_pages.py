"""Pages for people: badge contrast, the empty dashboard's next steps, error pages, no CDN docs."""

import re

import httpx
import pytest

from app.domain.records import Severity
from app.sandbox.github import APP_SLUG
from app.web.notices import next_steps
from app.web.pages import STYLE
from tests.conftest import Harness

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of #rrggbb (or #rgb)."""
    hex_digits = colour.lstrip("#")
    if len(hex_digits) == 3:
        hex_digits = "".join(c * 2 for c in hex_digits)
    channels = [int(hex_digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_formula_matches_known_values() -> None:
    assert contrast("#000", "#fff") == pytest.approx(21.0)
    assert contrast("#bf8700", "#ffffff") == pytest.approx(3.14, abs=0.01)  # the old Sev 3


def badge_colours() -> dict[str, tuple[str, str]]:
    """Every severity badge's (text, background) pair, read from the stylesheet."""
    text = re.search(r"\.sev\{[^}]*?(?<![-\w])color:(#[0-9a-fA-F]{3,6})", STYLE)
    assert text is not None
    backgrounds = dict(re.findall(r"\.(sev\d)\{background:(#[0-9a-fA-F]{3,6})\}", STYLE))
    return {name: (text.group(1), bg) for name, bg in backgrounds.items()}


def test_every_badge_meets_wcag_aa() -> None:
    badges = badge_colours()
    # "none" (sev0) and every severity the service records has a badge.
    assert set(badges) == {"sev0"} | {f"sev{int(s)}" for s in Severity}
    ratios = {name: round(contrast(*pair), 2) for name, pair in badges.items()}
    assert all(ratio >= 4.5 for ratio in ratios.values()), ratios


@pytest.mark.parametrize(
    ("text", "background"),
    [("#57606a", "#fff"), ("#57606a", "#f6f8fa"), ("#fff", "#1f883d")],
    ids=["muted", "muted-on-grey", "button"],
)
def test_other_text_meets_wcag_aa(text: str, background: str) -> None:
    assert text in STYLE and background in STYLE
    assert contrast(text, background) >= 4.5


async def test_an_empty_dashboard_says_what_to_do_next(harness_for) -> None:  # type: ignore[no-untyped-def]
    harness: Harness = await harness_for()
    page = (await harness.client.get("/")).text
    assert "No incidents yet" in page
    assert f'href="https://github.test/apps/{APP_SLUG}/installations/new"' in page
    assert "<code>/incident 1</code>" in page and "<code>incident</code>" in page
    assert "<svg" not in page  # no empty chart
    assert "/sandbox" not in page  # configured: the App is the way in


def test_next_steps_offer_the_sandbox_without_an_app() -> None:
    html = next_steps(None, sandbox=True)
    assert '<a href="/sandbox">' in html and "Install the App" in html


async def test_browsers_get_html_errors_and_api_clients_json(harness_for) -> None:  # type: ignore[no-untyped-def]
    harness: Harness = await harness_for()
    client = harness.client
    page = await client.get("/incidents/octo/ops/99", headers=BROWSER)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert page.text.startswith("<!doctype html>") and "Not found" in page.text
    api = await client.get("/incidents/octo/ops/99", headers={"Accept": "application/json"})
    assert api.status_code == 404 and api.json() == {"detail": "no such incident"}
    under_api = await client.get("/api/incidents/octo/ops/99", headers=BROWSER)
    assert under_api.status_code == 404 and under_api.json() == {"detail": "no such incident"}
    nowhere = await client.get("/no/such/page", headers=BROWSER)
    assert nowhere.status_code == 404 and "<h1>Not found</h1>" in nowhere.text
    assert (await client.get("/no/such/page")).json() == {"detail": "Not Found"}
    bad_number = await client.get("/incidents/octo/ops/abc", headers=BROWSER)
    assert bad_number.status_code == 404 and "<!doctype html>" in bad_number.text
    assert (await client.get("/api/incidents/octo/ops/abc")).status_code == 422


async def test_a_crash_is_an_html_page_for_browsers_and_json_for_clients(harness_for) -> None:  # type: ignore[no-untyped-def]
    harness: Harness = await harness_for()
    app = harness.client._transport.app  # type: ignore[attr-defined]

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        page = await client.get("/boom", headers=BROWSER)
        assert page.status_code == 500 and "Something went wrong" in page.text
        assert "secret internals" not in page.text
        api = await client.get("/boom")
        assert api.status_code == 500 and "secret internals" not in api.text
        assert api.json()["detail"].startswith("The service failed")


async def test_docs_are_off_but_the_description_stays(harness_for) -> None:  # type: ignore[no-untyped-def]
    harness: Harness = await harness_for()
    for path in ("/docs", "/redoc"):
        assert (await harness.client.get(path)).status_code == 404
    described = await harness.client.get("/openapi.json")
    assert described.status_code == 200 and "cdn" not in described.text.lower()
