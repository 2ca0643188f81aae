# One image for every process; docker-compose.yml and a PaaS pick the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY telnyx_api ./telnyx_api
COPY ingest ./ingest
COPY tasks ./tasks
COPY workers ./workers
COPY sandbox ./sandbox
RUN pip install . && useradd --create-home app
USER app
EXPOSE 8000
CMD ["gunicorn", "ingest.wsgi:app", "--bind", "0.0.0.0:8000"]
