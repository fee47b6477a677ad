# syntax=docker/dockerfile:1
# PokerPay image: the web app, the RQ worker, the scheduler and the sandbox all run from it
# (docker-compose.yml picks the command).  See docs/operations.md.

# --- front-end assets: pinned npm packages copied into app/static/vendor (no CDN, self-only CSP)
FROM node:20-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error \
    && mkdir -p vendor \
    && cp node_modules/htmx.org/dist/htmx.min.js node_modules/@picocss/pico/css/pico.min.css vendor/

# --- the application
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FLASK_APP=wsgi \
    POKERPAY_CONFIG=production \
    PORT=8000 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/pokerpay-metrics

RUN groupadd --system --gid 10001 pokerpay \
    && useradd --system --uid 10001 --gid pokerpay --home-dir /app --shell /usr/sbin/nologin pokerpay

WORKDIR /app
COPY requirements.txt ./
RUN pip install --requirement requirements.txt

COPY . .
COPY --from=assets /build/vendor/ app/static/vendor/
RUN pybabel -q compile -d app/translations \
    && mkdir -p instance \
    && chown -R pokerpay:pokerpay instance

USER pokerpay
EXPOSE 8000
# FORCE_HTTPS redirects plain HTTP; the probe says it came through the TLS proxy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen(u.Request(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz\", headers={'X-Forwarded-Proto': 'https'}), timeout=4)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
