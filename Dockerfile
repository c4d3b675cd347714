# syntax=docker/dockerfile:1
# Build stage: the locked dependencies (uv.lock) into a virtualenv, then the app itself.
FROM python:3.11.14-slim-bookworm AS build
ENV UV_PROJECT_ENVIRONMENT=/opt/venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY app ./app
RUN uv sync --frozen --no-dev

# Run stage: no build tools, a non-root user, the SQLite data directory as a volume.
FROM python:3.11.14-slim-bookworm
RUN useradd --create-home --uid 10001 incident
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --from=build /src/app ./app
COPY app.yml ./
RUN mkdir -p /app/data && chown incident:incident /app/data
ENV PATH=/opt/venv/bin:$PATH PORT=3000 DATABASE_URL=sqlite:////app/data/incident-flow.db \
    PYTHONUNBUFFERED=1 FORWARDED_ALLOW_IPS=127.0.0.1,::1
USER incident
VOLUME ["/app/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
  CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=4)"
# The platform's proxy terminates TLS: its X-Forwarded-* make URLs come out as https. Only
# the proxies in FORWARDED_ALLOW_IPS are believed (set it to your platform's; fly.toml does).
CMD ["sh", "-c", "exec uvicorn app.main:app --http app.queue.delivery_protocol:DeliveryProtocol --host 0.0.0.0 --port ${PORT} --proxy-headers --forwarded-allow-ips \"${FORWARDED_ALLOW_IPS}\""]
