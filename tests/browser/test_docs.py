"""The API docs in headless Chromium: they render from the server's own files under its CSP.

Any request to another origin is aborted and recorded (the page must work offline), and a
CSP violation is a console error, which fails the test through the `page` fixture.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def offline(page: Any, base: str) -> list[str]:
    """Abort every request that leaves `base`; return the list they are recorded in."""
    outside: list[str] = []

    def refuse(route: Any) -> None:
        outside.append(route.request.url)
        route.abort()

    page.route(lambda url: url.startswith("http") and not url.startswith(base), refuse)
    return outside


def test_swagger_ui_renders_offline(page: Any, live_server: Any) -> None:
    outside = offline(page, live_server.url)
    page.goto(f"{live_server.url}docs")
    page.wait_for_selector(".opblock-tag-section")
    assert page.locator(".opblock").count() >= 20  # every operation of the API
    page.locator(".opblock-summary").filter(has_text="List Builtin Datasets").click()
    page.wait_for_selector("text=Try it out")
    assert outside == []


def test_redoc_renders_offline(page: Any, live_server: Any) -> None:
    outside = offline(page, live_server.url)
    # ReDoc's sidebar credits Redocly with a logo from its CDN; the CSP blocks that image
    # (the one thing it reports) and ReDoc hides it: nothing else may be refused.
    page.allowed_errors = [r"^Loading the image 'https://cdn\.redoc\.ly/redoc/logo-mini\.svg'"]
    page.goto(f"{live_server.url}redoc")
    page.wait_for_selector("h1 >> text=descent")
    page.wait_for_selector("text=List the course's ready-made datasets", state="attached")
    page.fill("input[placeholder='Search...']", "predict")  # the search worker runs too
    page.wait_for_selector("[role='search'] >> text=/predict/i")
    assert outside == []
