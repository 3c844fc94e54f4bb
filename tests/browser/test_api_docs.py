"""Swagger UI at /api/docs in headless Chromium: it renders the OpenAPI 3.1 document from the gateway alone (every
request to another host is refused, as on a LAN without internet) under the app's Content-Security-Policy."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Route

from tests.browser.conftest import Gateway, open_page

pytestmark = pytest.mark.browser


async def test_swagger_ui_renders_the_document_offline_under_the_csp(browser: Browser, gateway: Gateway) -> None:
    page, watch = await open_page(browser)
    elsewhere: list[str] = []

    async def only_the_gateway(route: Route) -> None:
        if urlsplit(route.request.url).netloc == urlsplit(gateway.url).netloc:
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_the_gateway)
    response = await page.goto(f"{gateway.url}/api/docs")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    await page.wait_for_selector(".opblock-summary-path")  # the operations are listed: the document rendered
    paths = await page.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/messages/send" in {p.strip().replace("\u200b", "") for p in paths}
    assert await page.get_by_text("Unable to render this definition").count() == 0
    assert "OAS 3.1" in await page.locator(".info").first.inner_text()  # Swagger UI 4 would refuse 3.1
    await page.get_by_role("button", name="Authorize").first.click()  # the security schemes are offered
    await page.wait_for_selector("text=x-api-key")
    assert elsewhere == []
    watch.check()  # no console error: a CSP refusal, a failed asset or a script error would be one
