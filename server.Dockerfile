# The promptreview GitHub App server (`promptreview serve`, or `promptreview worker` with Redis).
# Build: docker build -f server.Dockerfile -t promptreview-server .
# Run:   docker run -p 8080:8080 -v promptreview-state:/var/lib/promptreview \
#          -e GITHUB_APP_ID -e GITHUB_APP_PRIVATE_KEY -e GITHUB_WEBHOOK_SECRET -e PROMPTREVIEW_ALLOW \
#          -e OPENAI_API_KEY promptreview-server
# Unlike the Action's image it runs as an unprivileged user, and keeps its queue, ledger and model
# cache in one volume (PROMPTREVIEW_STATE_DIR) so a restart loses no job.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PROMPTREVIEW_STATE_DIR=/var/lib/promptreview

# git fetches the base and head commits; its version follows the Debian release pinned above.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md /opt/promptreview/
COPY src /opt/promptreview/src
RUN pip install --no-cache-dir /opt/promptreview \
    && rm -rf /opt/promptreview \
    && useradd --system --uid 10001 --create-home --home-dir /home/promptreview promptreview \
    && mkdir -p /var/lib/promptreview \
    && chown promptreview /var/lib/promptreview

USER 10001
WORKDIR /home/promptreview
VOLUME ["/var/lib/promptreview"]
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/promptreview"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
