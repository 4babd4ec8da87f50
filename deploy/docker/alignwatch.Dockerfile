# syntax=docker/dockerfile:1
# The alignwatch image: `alignwatch consume`, `alignwatch export`, `alignwatch db upgrade`.
# Built from the repository root, installs pinned by constraints.txt:
#   docker build -f deploy/docker/alignwatch.Dockerfile -t ghcr.io/alignwatch/alignwatch:0.1.0 .

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
# alignwatch/stream, alignwatch/metrics and alignwatch/expectations link to these folders
COPY alignwatch/ alignwatch/
COPY stream/ stream/
COPY metrics/ metrics/
COPY expectations/ expectations/
RUN python -m venv /opt/alignwatch \
    && /opt/alignwatch/bin/pip install --no-cache-dir -c constraints.txt .

FROM python:3.11.14-slim-bookworm
ENV PATH=/opt/alignwatch/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 alignwatch \
    && useradd --system --uid 10001 --gid alignwatch --create-home --home-dir /home/alignwatch alignwatch
COPY --from=build /opt/alignwatch /opt/alignwatch
USER 10001:10001
WORKDIR /home/alignwatch
CMD ["alignwatch", "--help"]
