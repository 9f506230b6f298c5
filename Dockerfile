# syntax=docker/dockerfile:1
# The helpline web app (gunicorn) and, with another command, its RQ worker: one image, two roles.
#   docker build -t helpline .
#   docker run --env-file .env -p 8000:8000 helpline                 # web
#   docker run --env-file .env helpline python worker.py              # worker
# docker-compose.yml runs both with Caddy (https) and Redis; README "Running it for real".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HELPLINE_ENV=production \
    PORT=8000

WORKDIR /app

# Dependencies first, so a code change does not reinstall them. Only requirements.txt:
# the test tools in requirements-dev.txt stay out of the image.
COPY requirements.txt .
RUN pip install -r requirements.txt

RUN useradd --create-home --uid 10001 --user-group helpline \
    && mkdir -p /var/cache/helpline && chown helpline:helpline /var/cache/helpline
# The fitted classifier is cached here (a named volume in docker-compose.yml keeps it).
ENV XDG_CACHE_HOME=/var/cache/helpline
COPY . .
# The code stays owned by root and read-only to the service user.
USER helpline

EXPOSE 8000
# /healthz answers 200 while Redis answers (503 when not); see docs/operating.md.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen( \
        'http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)" || exit 1

CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
