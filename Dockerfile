# syntax=docker/dockerfile:1
# One multi-stage image definition for every service; docker-compose.yml builds
# it once per service with SERVICE (the folder under services/ and the name of
# its lock in requirements/) and PACKAGES (our packages that service needs).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
ARG PACKAGES
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /venv
WORKDIR /src
# Third-party dependencies first, from the service's own hashed lock, so this
# layer is reused until the lock changes.
COPY requirements/${SERVICE}.lock requirements/
RUN /venv/bin/pip install --require-hashes -r requirements/${SERVICE}.lock
COPY libs libs
COPY services services
RUN /venv/bin/pip install --no-deps ${PACKAGES}

FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /venv /venv
WORKDIR /app
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER app

# booking-core's image also carries the migrations (the migrate service runs them).
FROM runtime AS booking-core
COPY --chown=root:root alembic.ini ./
COPY --chown=root:root migrations migrations

# The web app, built to static files (the lock has no registry hosts: npm resolves
# each name@version from its configured registry and checks the recorded integrity).
FROM ${NODE_IMAGE} AS web
ENV PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /web
COPY web/package.json web/package-lock.json web/.npmrc ./
RUN npm ci --no-audit --no-fund
COPY web ./
RUN npm run bundle

# The gateway serves the built app next to the API.
FROM runtime AS gateway
COPY --from=web --chown=root:root /web/dist /app/web
ENV WEB_DIST_DIR=/app/web
