"""Serve the reference dashboard: `/` (index.html) and its files under `/static/`."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# no-cache: browsers revalidate (ETag) so a redeployed page is never stale.
_HEADERS = {"Cache-Control": "no-cache"}
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}

router = APIRouter(include_in_schema=False)


@router.api_route("/", methods=["GET", "HEAD"])
def index() -> FileResponse:
    """Return the dashboard page."""
    return FileResponse(STATIC_DIR / "index.html", media_type=_TYPES[".html"], headers=_HEADERS)


@router.api_route("/static/{path:path}", methods=["GET", "HEAD"])
def static_file(path: str) -> FileResponse:
    """Return one file of the dashboard; anything outside the static folder is 404."""
    file = (STATIC_DIR / path).resolve()
    if not file.is_relative_to(STATIC_DIR) or not file.is_file() or file.suffix not in _TYPES:
        raise HTTPException(status_code=404, detail="Not found")
    return FileResponse(file, media_type=_TYPES[file.suffix], headers=_HEADERS)
