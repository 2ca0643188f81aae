# syntax=docker/dockerfile:1
# One image for every process (web, worker, flower, release); docker-compose.yml or the platform
# picks the Procfile line to run. Built from uv.lock, like every other install of this project.
# Behind a TLS-inspecting proxy, give its CA as a build secret (README, "Containers"):
#   docker build --secret id=ca,src=proxy-ca.pem -t telnyx-conference-worker .

# --- build: the locked production dependencies and the project, in a venv under /app/.venv ----
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
# The same uv as scripts/_venv.sh (a test checks they agree), in a venv of its own that
# stays in this stage.
COPY scripts/with-build-ca /usr/local/bin/with-build-ca
RUN --mount=type=secret,id=ca,required=false \
    python -m venv /opt/uv && with-build-ca /opt/uv/bin/pip install "uv==0.13.9"
WORKDIR /app
# Dependencies first, from the lock alone, so a source change reuses this layer.
COPY pyproject.toml uv.lock .python-version ./
RUN --mount=type=secret,id=ca,required=false \
    with-build-ca /opt/uv/bin/uv sync --locked --no-default-groups --no-install-project --no-cache
COPY README.md ./
COPY telnyx_api ./telnyx_api
COPY core ./core
COPY followups ./followups
COPY records ./records
COPY ingest ./ingest
COPY tasks ./tasks
COPY workers ./workers
COPY sandbox ./sandbox
# The project itself, not editable: the final stage gets the venv without the build's leftovers.
RUN --mount=type=secret,id=ca,required=false \
    with-build-ca /opt/uv/bin/uv sync --locked --no-default-groups --no-editable --no-cache

# --- final: the venv, the process configuration, a non-root user; no compilers, caches or tools
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/app/.venv/bin:$PATH PORT=8000
RUN useradd --create-home --uid 10001 app
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY Procfile gunicorn.conf.py ./
COPY examples ./examples
USER 10001
EXPOSE 8000
CMD ["gunicorn", "--config", "gunicorn.conf.py", "ingest.wsgi:app"]
