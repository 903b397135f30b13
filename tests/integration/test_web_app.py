"""The gateway serving the built web app: the app's routes give index.html with its
security headers, hashed assets are cached for good, the API keeps its own routes,
and without a build the routes say how to make one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from environs import Env
from gateway.app import create_app as create_gateway
from gateway.settings import Settings

from .conftest import gateway_settings
from .harness import CoreProcess

pytestmark = pytest.mark.integration

INDEX = (
    '<!doctype html><html><body><div id="root"></div>'
    '<script src="/assets/index-abc123.js"></script></body></html>'
)


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log('app');")
    (tmp_path / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    return tmp_path


@pytest.fixture
async def web(core: CoreProcess, dist: Path, aiohttp_client: Any) -> Any:
    settings = gateway_settings(
        core,
        web_dist_dir=str(dist),
        notifier_public_url="http://live.example.com:8090",
        rate_limit_per_minute=5,
    )
    return await aiohttp_client(create_gateway(settings))


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/sign-in",
        "/book/yoga-tuesdays",
        "/book/yoga-tuesdays/confirmed?reference=ABCD2345&token=t",
        "/manage/ABCD2345?token=secret",
        "/events/f1cd78f9-ae72-5ed2-9a98-ad0628b178ae",
        "/dashboard",
        "/dashboard/event-types/new",
    ],
)
async def test_each_app_route_serves_index_html_without_auth(web: Any, path: str) -> None:
    response = await web.get(path)
    assert response.status == 200
    assert response.content_type == "text/html"
    assert await response.text() == INDEX
    assert response.headers["Cache-Control"] == "no-cache"
    # Manage links carry their token in the query: never send it on as a referrer.
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "connect-src 'self' http://live.example.com:8090 ws://live.example.com:8090" in policy


async def test_assets_are_immutable_and_not_rate_limited(web: Any) -> None:
    for _ in range(8):  # beyond the limit of 5 per minute
        response = await web.get("/assets/index-abc123.js")
        assert response.status == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert "RateLimit-Limit" not in response.headers
    assert (await web.get("/assets/missing.js")).status == 404
    assert (await web.get("/assets/../index.html")).status in (403, 404)
    favicon = await web.get("/favicon.svg")
    assert favicon.status == 200 and favicon.content_type == "image/svg+xml"


async def test_the_app_learns_where_the_notifier_is(web: Any) -> None:
    response = await web.get("/web-config.json")
    assert response.status == 200
    assert await response.json() == {"notifierUrl": "http://live.example.com:8090"}


async def test_the_api_keeps_its_routes_and_its_auth(web: Any) -> None:
    response = await web.get("/admin/bookings")
    assert response.status == 401
    assert response.content_type == "application/problem+json"
    assert (await web.get("/health")).status == 200
    unknown = await web.get("/no-such-page")
    assert unknown.status == 404 and unknown.content_type == "application/problem+json"
    assert (await web.post("/dashboard")).status == 405


async def test_without_a_build_the_app_routes_say_how_to_build_it(
    core: CoreProcess, tmp_path: Path, aiohttp_client: Any
) -> None:
    for dist_dir in ("", str(tmp_path / "not-built")):
        client = await aiohttp_client(create_gateway(gateway_settings(core, web_dist_dir=dist_dir)))
        response = await client.get("/book/yoga")
        assert response.status == 404
        problem = await response.json()
        assert problem["code"] == "NOT_FOUND" and "make web" in problem["detail"]
        assert (await client.get("/web-config.json")).status == 200
        await client.close()


def test_the_notifier_url_must_be_an_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERNAL_TOKEN", "x" * 32)
    monkeypatch.setenv("JWT_SECRET", "y" * 32)
    for bad in ("live.example.com", "ftp://live.example.com", "http://live.example.com/stream"):
        monkeypatch.setenv("NOTIFIER_PUBLIC_URL", bad)
        with pytest.raises(ValueError, match="NOTIFIER_PUBLIC_URL"):
            Settings.from_env(Env())
    monkeypatch.setenv("NOTIFIER_PUBLIC_URL", "https://live.example.com/")
    assert Settings.from_env(Env()).notifier_public_url == "https://live.example.com"
