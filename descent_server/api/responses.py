"""JSON responses through orjson: non-finite floats become null, numpy values serialize."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse as _JSONResponse


class JSONResponse(_JSONResponse):
    """The default response class: never writes NaN or Infinity (orjson writes null)."""

    def render(self, content: Any) -> bytes:
        """Serialize `content` with orjson."""
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
