"""``make dev``: check PostgreSQL and Redis, migrate, seed, print what a newcomer
needs (URLs, demo ids, tokens), then run every process from the ``Procfile``
under honcho (prefixed logs; Ctrl-C stops them all).

Settings come from the environment, then ``.env``, then defaults, exactly as
each service reads them: honcho is told not to load ``.env`` itself, because it
would let ``.env`` override the environment.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
from bookings_common.settings import load_or_exit, new_env, postgres_url, redis_url
from bookings_web.auth import JwtSettings, Role, issue_token
from redis import Redis
from redis.exceptions import RedisError

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TOKEN_HOURS = 12


def fail(message: str) -> None:
    print(f"make dev: {message}", file=sys.stderr)
    raise SystemExit(1)


def check_postgres(url: str) -> None:
    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://"))
    admin = parts._replace(path="/postgres").geturl()

    async def connect() -> None:
        conn = await asyncpg.connect(admin, timeout=3)
        await conn.close()

    try:
        asyncio.run(connect())
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        fail(
            f"PostgreSQL is not reachable at {parts.hostname}:{parts.port or 5432} ({exc}).\n"
            "  Start it, for example: pg_ctlcluster 15 main start"
            "  (or: docker compose up -d postgres redis),\n"
            "  or point DATABASE_URL at a running server."
        )


def check_redis(url: str) -> None:
    parts = urlsplit(url)
    try:
        Redis.from_url(url, socket_connect_timeout=3).ping()
    except (RedisError, OSError) as exc:
        fail(
            f"Redis is not reachable at {parts.hostname}:{parts.port or 6379} ({exc}).\n"
            "  Start it, for example: redis-server --daemonize yes"
            "  (or: docker compose up -d postgres redis),\n"
            "  or point REDIS_URL at a running server."
        )


def run(*argv: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(  # noqa: S603 - our own fixed commands
        argv, cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        fail(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


WEB = ROOT / "web"
WEB_SOURCES = ("src", "public", "index.html", "package-lock.json", "vite.config.ts")


def _newest(path: Path) -> float:
    if path.is_file():
        return path.stat().st_mtime
    return max((p.stat().st_mtime for p in path.rglob("*") if p.is_file()), default=0.0)


def build_web() -> str:
    """Build web/dist when it is older than its sources (npm ci first when the
    dependencies changed); return what to print about the web app."""
    npm = shutil.which("npm")
    if npm is None:
        return (
            "not built: Node.js 20.19+ and npm are not installed. Get them from\n"
            "                https://nodejs.org (or: apt-get install nodejs npm),\n"
            "                then run make web; the API and the rest run without it"
        )
    index = WEB / "dist" / "index.html"
    built = index.stat().st_mtime if index.is_file() else 0.0
    if built > max(_newest(WEB / name) for name in WEB_SOURCES):
        return "up to date"
    installed = WEB / "node_modules" / ".package-lock.json"
    if not installed.is_file() or installed.stat().st_mtime < _newest(WEB / "package-lock.json"):
        print("make dev: installing the web app's packages (npm ci)", flush=True)
        run(npm, "ci", "--no-audit", "--no-fund", cwd=WEB)
    print("make dev: building the web app (vite build)", flush=True)
    run(npm, "run", "--silent", "bundle", cwd=WEB)
    return "built from web/"


def main() -> None:
    env = new_env()
    database_url = load_or_exit(postgres_url, env=env)
    check_postgres(database_url)
    check_redis(load_or_exit(redis_url, env=env))
    print(run(str(BIN / "python"), "scripts/create_database.py").strip())
    run(str(BIN / "alembic"), "upgrade", "head")
    demo = json.loads(run(str(BIN / "python"), "-m", "booking_core.seed"))
    web = build_web()
    jwt = load_or_exit(JwtSettings.from_env, env=env)
    customer = issue_token(jwt, Role.CUSTOMER, demo["customerId"], ttl_seconds=TOKEN_HOURS * 3600)
    provider = issue_token(jwt, Role.PROVIDER, demo["providerId"], ttl_seconds=TOKEN_HOURS * 3600)
    grpc_port = env.str("GRPC_PORT", "50051")
    gateway = os.environ.get("GATEWAY_PORT", "8080")
    notifiers = os.environ.get("NOTIFIER_A_PORT", "8090"), os.environ.get("NOTIFIER_B_PORT", "8091")
    # As the Procfile gives the gateway: the environment, else the gateway's own address.
    public = os.environ.get("PUBLIC_BASE_URL") or f"http://localhost:{gateway}"
    mail_metrics = os.environ.get("MAIL_WORKER_METRICS_PORT", "9192")
    payment_metrics = os.environ.get("PAYMENT_SERVICE_METRICS_PORT", "9193")
    mail_dir = env.str("MAIL_SINK_DIR", "var/mail")
    admin_password = (
        f"password {demo['adminPassword']}  (shown this once: note it)"
        if "adminPassword" in demo
        else "(its password was shown when it was created; `make user` adds another)"
    )
    print(
        f"""
  web app       {public}/   admin panel {public}/dashboard
                ({web})
  REST API      http://localhost:{gateway}   (Swagger UI: http://localhost:{gateway}/docs)
  gRPC          localhost:{grpc_port}          (reflection on; x-internal-token from .env)
  live events   ws://localhost:{notifiers[0]}/ws  http://localhost:{notifiers[0]}/events
                ws://localhost:{notifiers[1]}/ws  http://localhost:{notifiers[1]}/events
  metrics       http://localhost:{gateway}/metrics  :{notifiers[0]}/metrics  :{notifiers[1]}/metrics
                reminder worker :9191/metrics  mail worker :{mail_metrics}/metrics
                payment-service :{payment_metrics}/metrics
  mail          every message is stored under {mail_dir}/ (a .eml file, and a folder
                with its invite.ics); the mail-sink log line names each one

  demo admin     {demo["adminEmail"]}  {admin_password}
  demo provider  {demo["providerId"]}
  demo customer  {demo["customerId"]}
  demo event type "Intro call": {public}/book/{demo["eventTypeCustomSlug"]}
                 slots: http://localhost:{gateway}/public/event-types/{demo["eventTypeCustomSlug"]}/slots
  demo concert   {public}/events/{demo["ticketedEventId"]}
                 seats: http://localhost:{gateway}/public/events/{demo["ticketedEventId"]}/seats

  export PROVIDER={demo["providerId"]}
  export CUSTOMER={demo["customerId"]}
  export SLUG={demo["eventTypeCustomSlug"]}
  export EVENT={demo["ticketedEventId"]}
  export CUSTOMER_TOKEN={customer}
  export PROVIDER_TOKEN={provider}
  (tokens valid {TOKEN_HOURS} hours; Ctrl-C stops everything)
""",
        flush=True,
    )
    honcho = shutil.which("honcho", path=str(BIN)) or "honcho"
    os.chdir(ROOT)
    os.execv(honcho, [honcho, "start", "--procfile", "Procfile", "--env", "/dev/null"])  # noqa: S606


if __name__ == "__main__":
    main()
