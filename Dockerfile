# Linli API. Build: docker build -t linli .  Migrate: docker run --rm -e DATABASE_URL=... linli alembic upgrade head
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv/linli

COPY pyproject.toml requirements.lock alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN pip install -c requirements.lock . \
    && useradd --create-home --uid 10001 linli \
    && mkdir -p var/media && chown -R linli var

USER linli
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers", "--timeout-graceful-shutdown", "5"]
