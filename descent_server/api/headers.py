"""Security headers on every response: CSP, nosniff, no framing, no referrer."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The dashboard keeps the API key in localStorage: only its own scripts may run, nothing may
# frame it. It has no inline script or style; `data:` is its empty favicon.
DASHBOARD_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI and ReDoc run only our own files (no inline script), but both style elements at
# run time (ReDoc through styled-components, Swagger UI's highlighter) and ReDoc searches in
# a blob: worker. Inline styles cannot run code; inline scripts stay forbidden.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; worker-src 'self' blob:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# JSON, CSV, pictures: a document opened from the API may load and run nothing.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
DOCS_PATHS = ("/docs", "/redoc")
DASHBOARD_PATHS = ("/static/",)


def policy_for(path: str) -> str:
    """Return the Content-Security-Policy for a request path."""
    if path.startswith(DOCS_PATHS):
        return DOCS_CSP
    if path == "/" or path.startswith(DASHBOARD_PATHS):
        return DASHBOARD_CSP
    return API_CSP


class SecurityHeadersMiddleware:
    """Add the headers to each response start (pure ASGI: streamed bodies stay streamed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add what the response did not set itself."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = {**COMMON, "Content-Security-Policy": policy_for(scope["path"])}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in wanted.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
