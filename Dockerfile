# The factory's services as a container image: `docker compose up` runs each service
# of the walkthrough in its own container against Apache Kafka (docker-compose.yml).
#   docker build -t widget-factory .
#   docker run --rm widget-factory --help
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY widget_factory ./widget_factory
RUN pip install . && useradd --create-home --uid 10001 factory

USER factory
# Every service reads KAFKA_BOOTSTRAP_SERVERS and librdkafka settings from KAFKA_*
# variables (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM, ...): docs/kafka-clusters.md.
ENTRYPOINT ["widget-factory"]
CMD ["--help"]
