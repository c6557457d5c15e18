FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway gateway
COPY rules rules
COPY simulators simulators
COPY api api
RUN pip install --no-cache-dir . && useradd -m sitewatch && mkdir /data && chown sitewatch /data
USER sitewatch
WORKDIR /data
EXPOSE 8000
ENTRYPOINT ["sitewatch"]
CMD ["run"]
