"""API docs served from our own origin: Swagger UI at /docs, ReDoc at /redoc, no CDN."""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from descent_server.api.routes.dashboard import STATIC_DIR

# The Swagger UI and ReDoc bundles ship in the fastapi-offline package; our start-up script
# and stylesheet sit beside the dashboard's files. Nothing is fetched from another origin.
_VENDOR = Path(str(files("fastapi_offline") / "static"))
_OWN = STATIC_DIR / "docs"
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (_VENDOR / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": (_VENDOR / "swagger-ui.css", "text/css; charset=utf-8"),
    "redoc.standalone.js": (_VENDOR / "redoc.standalone.js", "text/javascript; charset=utf-8"),
    "favicon.png": (_VENDOR / "favicon.png", "image/png"),
    "swagger-init.js": (_OWN / "swagger-init.js", "text/javascript; charset=utf-8"),
    "docs.css": (_OWN / "docs.css", "text/css; charset=utf-8"),
}
_HEADERS = {"Cache-Control": "no-cache"}

_SWAGGER = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} - API docs</title>
  <link rel="icon" type="image/png" href="{assets}/favicon.png">
  <link rel="stylesheet" href="{assets}/swagger-ui.css">
  <link rel="stylesheet" href="{assets}/docs.css">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="{openapi}"></div>
  <script src="{assets}/swagger-ui-bundle.js"></script>
  <script src="{assets}/swagger-init.js"></script>
</body>
</html>
"""
_REDOC = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} - API reference</title>
  <link rel="icon" type="image/png" href="{assets}/favicon.png">
  <link rel="stylesheet" href="{assets}/docs.css">
</head>
<body>
  <redoc spec-url="{openapi}"></redoc>
  <script src="{assets}/redoc.standalone.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


def _page(template: str, request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    text = template.format(
        title=html.escape(request.app.title),
        assets=html.escape(f"{root}/docs/assets"),
        openapi=html.escape(f"{root}{request.app.openapi_url}"),
    )
    return HTMLResponse(text, headers=_HEADERS)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Return the Swagger UI page (try the API from the browser)."""
    return _page(_SWAGGER, request)


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """Return the ReDoc page (the API reference)."""
    return _page(_REDOC, request)


@router.get("/docs/assets/{name}")
async def asset(name: str) -> FileResponse:
    """Return one file of the docs pages; anything else is 404."""
    if name not in ASSETS:
        raise HTTPException(status_code=404, detail="Not found")
    path, media_type = ASSETS[name]
    return FileResponse(path, media_type=media_type, headers=_HEADERS)
