# The console image: web (default command), Celery worker, Flower and migrations all run from it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first: this layer stays cached until requirements.txt changes.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

# A fixed uid (1000 by default, the usual first user on a Linux host) so the bind-mounted
# ./logs stays writable; build with --build-arg APP_UID=$(id -u) to match another owner.
# Declared after the pip layer so a different uid does not reinstall the dependencies.
ARG APP_UID=1000
RUN groupadd --gid "${APP_UID}" app \
    && useradd --no-log-init --uid "${APP_UID}" --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

COPY . .
# The code stays root-owned (read-only to the app); only logs/ and data/ are writable.
RUN mkdir -p logs data && chown app:app logs data

USER app

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]

CMD ["uvicorn", "console.app:app", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
