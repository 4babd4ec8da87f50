#!/bin/sh
# Creates Airflow's metadata database and its role (run once, on an empty data directory,
# by the postgres image's entry point). The password comes from the airflow_db_password secret.
set -eu
password="$(cat /run/secrets/airflow_db_password)"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v password="$password" <<'SQL'
CREATE ROLE airflow LOGIN PASSWORD :'password';
CREATE DATABASE airflow OWNER airflow;
SQL
