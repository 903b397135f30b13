"""The built web app (``web/dist``, from ``npm run build``): its hashed assets under
``/assets/`` (cached for a year), and ``index.html`` for each of the app's own URLs
(never cached), with a Content Security Policy that lets scripts come only from
here and live connections go only to the notifier.

``GET /web-config.json`` gives the app what it cannot know at build time:
``{"notifierUrl": NOTIFIER_PUBLIC_URL}``. Without ``WEB_DIST_DIR`` the app's URLs
answer 404 ``NOT_FOUND`` saying how to build it; the API is unaffected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from aiohttp import web
from bookings_web.problems import ProblemError

from . import keys

# The app's client-side routes (web/src/App.tsx): each serves index.html.
ROUTES: Final = (
    "/",
    "/sign-in",
    "/book/{slug}",
    "/book/{slug}/confirmed",
    "/manage/{reference}",
    "/events/{id}",
    "/dashboard",
    "/dashboard/{tail:.+}",
)
# Never authenticated (the app signs in through the API) and, for assets, not rate-limited.
PUBLIC_PATHS: Final = (
    "/",
    "/sign-in",
    "/book/.*",
    "/manage/.*",
    "/events/.*",
    "/dashboard(/.*)?",
    "/assets/.*",
    "/favicon\\.svg",
    "/web-config\\.json",
)
ASSETS_PREFIX: Final = "/assets/"
IMMUTABLE: Final = "public, max-age=31536000, immutable"
WEB_DIST_KEY: Final = web.AppKey("web_dist", Path)


def security_headers(notifier_url: str) -> dict[str, str]:
    """Headers of the app's HTML: CSP (W3C CSP Level 3), no referrer (manage links
    carry their token in the query), no framing, no MIME sniffing."""
    policy = "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            # Radix's scroll lock adds a <style> element.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            f"connect-src 'self' {notifier_url} {notifier_url.replace('http', 'ws', 1)}",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            "form-action 'self'",
        )
    )
    return {
        "Content-Security-Policy": policy,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-cache",
    }


async def index(request: web.Request) -> web.StreamResponse:
    """``index.html`` of the app, for any of its routes."""
    dist = request.app.get(WEB_DIST_KEY)
    if dist is None or not (dist / "index.html").is_file():
        raise ProblemError(
            "NOT_FOUND",
            "the web app is not built: run `make web` (npm ci and npm run build in web/)"
            " and set WEB_DIST_DIR=web/dist",
        )
    settings = request.app[keys.SETTINGS]
    return web.FileResponse(
        dist / "index.html", headers=security_headers(settings.notifier_public_url)
    )


async def web_config(request: web.Request) -> web.Response:
    """``{"notifierUrl"}``: where the app opens its live connections."""
    settings = request.app[keys.SETTINGS]
    return web.json_response(
        {"notifierUrl": settings.notifier_public_url}, headers={"Cache-Control": "no-cache"}
    )


async def favicon(request: web.Request) -> web.StreamResponse:
    """The app's icon (``web/public/favicon.svg``)."""
    return web.FileResponse(request.app[WEB_DIST_KEY] / "favicon.svg")


async def _immutable_assets(_request: web.Request, response: web.StreamResponse) -> None:
    if _request.path.startswith(ASSETS_PREFIX) and response.status == 200:
        response.headers["Cache-Control"] = IMMUTABLE


def add_web_app(app: web.Application, dist_dir: str) -> None:
    """Serve the app built in ``dist_dir`` ("" or missing: the routes say how to build it)."""
    app.router.add_get("/web-config.json", web_config)
    for path in ROUTES:
        app.router.add_get(path, index)
    if not dist_dir:
        return
    dist = Path(dist_dir).resolve()
    app[WEB_DIST_KEY] = dist
    if (dist / "assets").is_dir():
        app.router.add_static(ASSETS_PREFIX, dist / "assets", append_version=False)
        app.on_response_prepare.append(_immutable_assets)
    if (dist / "favicon.svg").is_file():
        app.router.add_get("/favicon.svg", favicon)
