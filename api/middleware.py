"""Security headers on every response: the page, its assets, JSON, errors, the stream.

:class:`SecurityHeaders` is a plain ASGI middleware (it does not buffer the body, so the
Server-Sent-Events stream flows through it untouched). On each ``http.response.start`` it
adds the headers of :data:`SECURITY_HEADERS` a response has not set itself. The
Content-Security-Policy lets a page load scripts and styles only from this origin, no
inline script, no plugins, no framing: one policy for every path, the API's
documentation page (``api.docs``, Swagger UI served from here) included.

:class:`SecuredFastAPI` wraps the whole application in it, outside Starlette's own error
middleware, so the bare 500 of an unexpected error carries the headers too (a middleware
added with ``add_middleware`` sits inside that one and never sees it).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; "
    "script-src 'self'; "
    "style-src 'self'; "
    "img-src 'self' data:; "
    "font-src 'self'; "
    "connect-src 'self'; "
    "media-src 'none'; "
    "object-src 'none'; "
    "base-uri 'none'; "
    "form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecurityHeaders:
    """Add :data:`SECURITY_HEADERS` to every HTTP response of ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SecuredFastAPI(FastAPI):
    """FastAPI whose every response, its own 500 included, carries the headers."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())
