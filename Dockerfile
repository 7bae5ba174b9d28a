# The pitmaster image: `pitmaster server`, `pitmaster worker` or `pitmaster up`.
#
# Built from wheels made outside the image (scripts/build-image.sh puts them in
# dist/image/), so the build needs no network. Settings come from PITMASTER_*
# environment variables only; nothing secret is baked in.
#
#   docker build --build-arg BASE_IMAGE=python:3.11-slim-bookworm -t pitmaster .
#
# BASE_IMAGE needs python3 with venv; where no registry is reachable,
# scripts/ensure-base-image.sh makes one with debootstrap.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS install
COPY dist/image/ /wheels/
RUN python3 -m venv /opt/pitmaster \
    && /opt/pitmaster/bin/pip install --no-cache-dir --no-index --find-links /wheels \
        --disable-pip-version-check -r /wheels/requirements.lock /wheels/pitmaster-*.whl \
    && /opt/pitmaster/bin/pip uninstall --yes --quiet pip \
    && find /opt/pitmaster -name __pycache__ -prune -exec rm -rf {} +

FROM ${BASE_IMAGE}
RUN useradd --system --uid 10001 --home-dir /var/lib/pitmaster --create-home pitmaster
COPY --from=install /opt/pitmaster /opt/pitmaster
ENV PATH=/opt/pitmaster/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PITMASTER_HOST=0.0.0.0 \
    PITMASTER_PORT=8000 \
    PITMASTER_DATABASE_URL=sqlite:////var/lib/pitmaster/pitmaster.db
USER pitmaster
# No VOLUME: with PostgreSQL nothing here needs keeping; for SQLite mount a volume at
# /var/lib/pitmaster (the default database lives there).
WORKDIR /var/lib/pitmaster
EXPOSE 8000
# The server answers /healthz on PITMASTER_PORT; a worker on PITMASTER_METRICS_PORT when set.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; port = os.environ.get('PITMASTER_METRICS_PORT') or os.environ['PITMASTER_PORT']; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
ENTRYPOINT ["pitmaster"]
CMD ["server"]
