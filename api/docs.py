"""The API's documentation page, ``/docs``: Swagger UI served by this process alone.

No CDN and no inline script: the page (:data:`PAGE`) loads Swagger UI's script and style
from ``/docs/assets/`` (the files the ``fastapi-offline`` package ships, read from its
install directory) and starts it with ``/docs/init.js`` (:data:`INIT`), so it runs under
the same strict Content-Security-Policy as every other response (``api.middleware``).
The spec stays at ``/openapi.json``.

ReDoc (``/redoc``) is off: it injects inline styles and starts workers from ``blob:``
URLs, which that policy refuses. So is Swagger UI's OAuth2 redirect page (an inline
script; nothing here signs in through OAuth2).

Life: :func:`install` adds the routes once, from ``api.main.create_app`` (which turns
FastAPI's own CDN pages off). When the package is not installed, ``/docs`` is off (404)
and a warning says why; ``/openapi.json`` is served either way.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

from api.routes.ui import Assets

log = logging.getLogger("sitewatch.api")

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
#: the files of Swagger UI the page loads, from the package's directory
FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")

# URLs relative to the page (``/docs``), so the page works under a path prefix too
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sitewatch API</title>
<link rel="icon" href="docs/assets/favicon.png">
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body>
</html>
"""

INIT = """"use strict";
window.ui = SwaggerUIBundle({
  url: new URL("openapi.json", document.baseURI).href,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""


def swagger_ui_dir() -> Path | None:
    """The directory holding :data:`FILES`, or None when the package is not installed."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "static"
    return folder if all((folder / f).is_file() for f in FILES) else None


def install(app: FastAPI) -> bool:
    """Serve ``/docs``, ``/docs/init.js`` and ``/docs/assets/``; False (and a warning)
    when Swagger UI's files are not installed."""
    folder = swagger_ui_dir()
    if folder is None:
        log.warning("API docs off: Swagger UI's files not found (pip install fastapi-offline)")
        return False

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"Cache-Control": "no-cache"})

    @app.get(f"{DOCS_URL}/init.js", include_in_schema=False)
    async def init() -> Response:
        return Response(INIT, media_type="text/javascript", headers={"Cache-Control": "no-cache"})

    app.mount(ASSETS_URL, Assets(directory=folder), name="docs-assets")
    return True
