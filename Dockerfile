# Pulse's container image: `pulse serve` (Slack, webhooks, probes, metrics, scheduler).
#
#   docker build -t pulse .                     # on python:3.11-slim from Docker Hub
#   podman build --build-arg BASE=localhost/pulse-base -t pulse .   # a local Debian base
#                                               # (deploy/build-base.sh, docs/deploy.md)
#
# Two stages: the first builds Pulse's wheel and the wheels of everything it needs; the
# second installs them in a virtual environment, without a compiler or the source tree,
# and runs as an unprivileged user.
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python3 -m venv /opt/build
WORKDIR /src
COPY pyproject.toml README.md app.py ./
COPY pulse ./pulse
COPY bot ./bot
COPY connectors ./connectors
COPY scoring ./scoring
COPY digests ./digests
COPY storage ./storage
RUN /opt/build/bin/pip wheel --wheel-dir /wheels .

FROM ${BASE}
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/pulse/bin:$PATH \
    PULSE_LOG_FORMAT=json
RUN useradd --system --uid 10001 --user-group --home-dir /app --create-home --shell /usr/sbin/nologin pulse \
    && install -d -o pulse -g pulse /app/data /app/config
# The wheels are mounted from the first stage, not copied: they stay out of the image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python3 -m venv /opt/pulse \
    && /opt/pulse/bin/pip install --no-index --find-links /wheels pulse \
    && pulse --help > /dev/null
USER pulse
WORKDIR /app
# pulse.yml is read from /app (mount one, or set PULSE_CONFIG); DATABASE_URL and the
# Slack secrets come from the environment (deploy/pulse.env.example).
EXPOSE 3000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=4)" || exit 1
ENTRYPOINT ["pulse"]
CMD ["serve", "--port", "3000"]
