#!/bin/bash
# Runs once when the InfluxDB 2 container is first set up: maps the v1 database
# "sitewatch" onto the bucket, so sitewatch can write /write and query InfluxQL /query.
set -e
BUCKET_ID=$(influx bucket list --name "${DOCKER_INFLUXDB_INIT_BUCKET}" --hide-headers | cut -f1)
influx v1 dbrp create --db sitewatch --rp autogen --bucket-id "${BUCKET_ID}" --default
# for v1 clients that use a user name and password instead of the token (e.g. Grafana)
influx v1 auth create --username sitewatch --password "${SITEWATCH_INFLUX_V1_PASSWORD}" \
  --read-bucket "${BUCKET_ID}" --write-bucket "${BUCKET_ID}"
