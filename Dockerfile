# paymock: the mock payment provider as a container (CI sidecar, local dev, QA console).
#
#   docker build -t paymock .                                  # server + console (PAYMOCK_EXTRAS=console)
#   docker build --build-arg PAYMOCK_EXTRAS= -t paymock:slim . # server only: ~330 MB smaller, for CI sidecars
#   docker run --env-file .env -p 9002:9002 paymock            # the API on :9002 (default command)
#   docker run --env-file .env -p 8501:8501 -e PAYMOCK_API_URL=http://host.docker.internal:9002 \
#       --add-host=host.docker.internal:host-gateway --no-healthcheck \
#       paymock paymock console --address 0.0.0.0              # the console alone on :8501 (no API here)
#   docker run --env-file .env -p 9002:9002 -p 8502:8502 paymock paymock all   # both, the seed's layout
#
# tests/sidecar/test_dockerfile.py runs every RUN step below, as written, into a fresh venv (the
# image's $VIRTUAL_ENV) and starts the CMD from it: there is no Docker engine where we test, so
# nothing may happen only here. Keep RUN steps plain shell that works outside a container too.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: a venv with paymock installed; pip, wheels and sources stay behind in this stage ----
FROM ${PYTHON_IMAGE} AS build
# console = the Streamlit QA console (pulls pandas/pyarrow); empty = the server only. The postgres extra
# (psycopg, ~10 MB) is always in: replicas of the image share a PostgreSQL store (--store postgresql://...)
ARG PAYMOCK_EXTRAS=console
ENV VIRTUAL_ENV=/opt/paymock \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
ENV PATH="${VIRTUAL_ENV}/bin:${PATH}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY server ./server
COPY openapi ./openapi
COPY fixtures ./fixtures
COPY console ./console
RUN python -m venv "$VIRTUAL_ENV"
RUN pip install ".[postgres${PAYMOCK_EXTRAS:+,$PAYMOCK_EXTRAS}]"

# ---- runtime: the venv only, run as an unprivileged user ----
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="paymock" \
      org.opencontainers.image.description="Contract-first mock payment provider with signed, retried webhooks"
ENV VIRTUAL_ENV=/opt/paymock \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    PAYMOCK_HOST=0.0.0.0 \
    PAYMOCK_PORT=9002
ENV PATH="${VIRTUAL_ENV}/bin:${PATH}"
COPY --from=build /opt/paymock /opt/paymock
# `nobody` (65534) exists in the base image, so no RUN useradd is needed (and none runs only here);
# numeric, so Kubernetes' runAsNonRoot can check it. Nothing is written at run time except a sqlite
# store, if chosen: mount a volume writable by 65534 for it.
USER 65534:65534
WORKDIR /tmp
EXPOSE 9002 8501 8502
# python, not curl (the slim image has no curl); follows PAYMOCK_PORT if it is changed
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + (os.environ.get('PAYMOCK_PORT') or '9002') + '/healthz', timeout=2)"]
# `paymock serve` reads PAYMOCK_HOST/PAYMOCK_PORT (0.0.0.0:9002 here) and the rest of its settings
# from the environment; it stops gracefully on SIGTERM (docker stop) and exits 0.
CMD ["paymock", "serve"]
