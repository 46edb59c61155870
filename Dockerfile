# The promptreview GitHub Action. The runner builds this image in every job that uses the action,
# so it is kept small and quick to build: slim Python, git (to read the PR's revisions), our wheel.
# No USER (the workspace is only writable as root) and no WORKDIR (the runner mounts the
# workspace and makes it the working directory).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# git is the only system package; its version follows the Debian release pinned above.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md LICENSE /opt/promptreview/
COPY src /opt/promptreview/src
RUN pip install --no-cache-dir /opt/promptreview \
    && rm -rf /opt/promptreview

ENTRYPOINT ["/usr/local/bin/promptreview", "action"]
