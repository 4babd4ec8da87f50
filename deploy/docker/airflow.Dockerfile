# syntax=docker/dockerfile:1
# The Airflow image of alignwatch: the official Airflow image (the version constraints.txt
# pins) with the alignwatch package and the DAGs of dags/. It runs every Airflow component
# (`airflow db migrate`, `airflow api-server`, `airflow scheduler`, `airflow dag-processor`).
# Built from the repository root:
#   docker build -f deploy/docker/airflow.Dockerfile -t ghcr.io/alignwatch/alignwatch-airflow:0.1.0 .

FROM python:3.11.14-slim-bookworm AS wheel
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
# alignwatch/stream, alignwatch/metrics and alignwatch/expectations link to these folders
COPY alignwatch/ alignwatch/
COPY stream/ stream/
COPY metrics/ metrics/
COPY expectations/ expectations/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM apache/airflow:3.3.2-python3.11
COPY --from=wheel /wheels/ /opt/alignwatch/wheels/
COPY constraints.txt /opt/alignwatch/constraints.txt
USER 50000
RUN pip install --no-cache-dir -c /opt/alignwatch/constraints.txt /opt/alignwatch/wheels/alignwatch-*.whl
COPY --chown=50000:0 dags/ /opt/airflow/dags/
# the simple auth manager's generated passwords (a volume in compose); group 0 may write, as
# the Airflow image expects of a container run under another uid
RUN mkdir -m 0770 /opt/airflow/auth
ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/airflow/dags AIRFLOW__CORE__LOAD_EXAMPLES=false
