# jitbot: `jitbot serve` behind waitress, migrations on start, health on /healthz.
#   docker build -t jitbot .
#   docker run -p 3000:3000 -e SLACK_BOT_TOKEN -e SLACK_SIGNING_SECRET \
#     -e JITBOT_DATABASE_URL=postgresql://... jitbot
# Runbooks: mount your own folder over /app/runbooks. SQLite lives on the /data volume.
# The full image has the C compiler that mypyc needs for the redaction modules (setup.py);
# the slim one below runs them.
FROM python:3.11 AS build
WORKDIR /src
# Pinned dependencies first (a cached layer), then the package itself from the source tree.
COPY requirements.lock ./
RUN pip install --no-cache-dir --prefix=/install --requirement requirements.lock
COPY pyproject.toml setup.py README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir --prefix=/install --no-deps ./

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    JITBOT_PORT=3000 \
    JITBOT_RUNBOOKS_DIR=/app/runbooks \
    JITBOT_MIGRATIONS_DIR=/app/migrations \
    JITBOT_DATABASE_URL=sqlite:////data/jitbot.db
RUN groupadd --system --gid 10001 jitbot \
    && useradd --system --uid 10001 --gid jitbot --home-dir /app --shell /usr/sbin/nologin jitbot \
    && mkdir -p /app /data \
    && chown jitbot:jitbot /data
COPY --from=build /install /usr/local
WORKDIR /app
COPY --chown=jitbot:jitbot alembic.ini ./
COPY --chown=jitbot:jitbot migrations ./migrations
COPY --chown=jitbot:jitbot runbooks ./runbooks
USER 10001:10001
EXPOSE 3000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('JITBOT_PORT', '3000'), timeout=2)"]
ENTRYPOINT ["jitbot"]
CMD ["serve"]
