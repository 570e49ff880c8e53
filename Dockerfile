# syntax=docker/dockerfile:1
# AutoStack's own image: the bot (`autostack serve`) with git and kubectl, which it runs.
#
#   docker build -t autostack .
#   docker run --read-only --tmpfs /tmp -v autostack-data:/var/lib/autostack \
#     -p 8000:8000 -e AUTOSTACK_PUBLIC_URL=https://autostack.example.com autostack
#
# Runs as the numeric user 10001 with every file owned by root, so the process cannot
# change its own code; the only writable places are /tmp and AUTOSTACK_DATA_DIR, both
# volumes (emptyDir in Kubernetes, see deploy/), so the root filesystem can be read-only.

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# kubectl from the official image of a pinned release (renders Kustomize overlays).
FROM registry.k8s.io/kubectl:v1.33.4 AS kubectl

# ---- build: a virtualenv with the locked dependencies and AutoStack itself ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/autostack
# The lock first: dependencies are rebuilt only when it changes, not on every code edit.
COPY requirements/lock.txt /tmp/lock.txt
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot/ bot/
COPY generators/ generators/
COPY sandbox/ sandbox/
COPY templates/ templates/
COPY gitops-skeleton/ gitops-skeleton/
COPY deploy/ deploy/
COPY app.yml ./
# Only the runtime dependencies of pyproject.toml, at exactly the versions of the lock
# (the lock also pins the test tools, which the image does not need). Installed in
# editable mode because the generators read templates/ next to the packages.
RUN /opt/autostack/bin/pip install --constraint /tmp/lock.txt --editable /app \
    && /opt/autostack/bin/python -m compileall -q /app /opt/autostack

# ---- runtime ----
FROM ${PYTHON_IMAGE}
ARG GIT_VERSION=1:2.39.5-0+deb12u3
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="AutoStack" \
      org.opencontainers.image.description="Deploys apps from GitHub to Kubernetes through GitOps and Argo CD" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.13-slim-bookworm"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
    && apt-get install -y --no-install-recommends "git=${GIT_VERSION}" \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 autostack \
    && useradd --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
       --shell /usr/sbin/nologin autostack \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/autostack
COPY --from=kubectl /bin/kubectl /usr/local/bin/kubectl
COPY --from=build /opt/autostack /opt/autostack
COPY --from=build /app /app
# HOME on /tmp: git writes its config and credential cache under HOME. No bytecode
# writes (the code is read-only and precompiled above); logs go straight to stdout.
ENV PATH=/opt/autostack/bin:$PATH \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AUTOSTACK_DATA_DIR=/var/lib/autostack
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# Liveness only: the process answers HTTP. Python's urllib, so no curl in the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# Without App credentials this serves the setup flow, which stores them in the data
# volume; deploy/ passes them as Secrets instead, so pods there never enter setup.
CMD ["autostack", "serve", "--host", "0.0.0.0", "--port", "8000"]
