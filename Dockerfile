# The detainer-tracker image for docker-compose.yml: the package installed in place, so its schemas, rule book
# and deploy files stay where the code expects them. `docker compose up` builds it.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY schemas ./schemas
COPY deploy ./deploy
RUN pip install --no-cache-dir -e . && useradd --system --uid 10001 --home /data tracker && mkdir -p /data \
    && chown tracker /data
# numeric, so that Kubernetes can tell the image does not run as root (runAsNonRoot)
USER 10001
ENV DT_DATA_DIR=/data DT_WEB_BIND=0.0.0.0
ENTRYPOINT ["detainer-tracker"]
CMD ["worker"]
