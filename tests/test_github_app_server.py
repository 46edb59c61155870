"""The loopback GitHub's App side (``servers/github_app.py``), driven by the real clients:
PyGithub's App auth for the JWT endpoints and git itself for the smart-HTTP fetch.
"""

from __future__ import annotations

import base64
import os
import subprocess
import time
from pathlib import Path

import jwt
import pytest
import requests
from github import Auth, Github, GithubException, GithubIntegration

from repo_builder import RepoBuilder
from servers.github_app import generate_app_key
from servers.github_server import GitHubServer

APP_ID = 31337


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_app_key()


def _integration(gh: GitHubServer, private: str) -> GithubIntegration:
    return GithubIntegration(
        auth=Auth.AppAuth(APP_ID, private), base_url=gh.url, seconds_between_requests=None
    )


def test_app_jwt_endpoints_and_a_scoped_installation_token(
    fake_github: GitHubServer, keys: tuple[str, str]
) -> None:
    private, public = keys
    fake_github.add_repo("acme/prompts")
    fake_github.add_repo("acme/secret")
    fake_github.apps.add_app(APP_ID, public, slug="reviewer")
    installation = fake_github.apps.add_installation(APP_ID, "acme", ["acme/prompts"])
    integration = _integration(fake_github, private)

    assert integration.get_app().slug == "reviewer"
    assert integration.get_repo_installation("acme", "prompts").id == installation.id
    token = integration.get_access_token(installation.id).token
    client = Github(auth=Auth.Token(token), base_url=fake_github.url, seconds_between_requests=None)

    assert client.get_repo("acme/prompts").full_name == "acme/prompts"
    with pytest.raises(GithubException) as outside:
        client.get_repo("acme/secret").full_name  # noqa: B018 (the call is the point)
    assert outside.value.status == 404
    assert fake_github.contract_violations == []


def test_a_jwt_signed_with_another_key_or_too_long_lived_is_refused(
    fake_github: GitHubServer, keys: tuple[str, str]
) -> None:
    _, public = keys
    other_private, _ = generate_app_key()
    fake_github.apps.add_app(APP_ID, public)
    now = int(time.time())

    with pytest.raises(GithubException) as forged:
        _integration(fake_github, other_private).get_app()
    assert forged.value.status == 401
    long_lived = jwt.encode({"iat": now, "exp": now + 3600, "iss": str(APP_ID)}, keys[0], algorithm="RS256")
    too_long = requests.get(
        f"{fake_github.url}/app",
        headers={"Authorization": f"Bearer {long_lived}", "User-Agent": "test"},
        timeout=10,
    )
    assert too_long.status_code == 401 and "too far in the future" in too_long.json()["message"]


def test_git_fetch_over_smart_http_needs_the_installation_token(
    fake_github: GitHubServer, keys: tuple[str, str], tmp_path: Path
) -> None:
    private, public = keys
    origin = RepoBuilder.init(tmp_path / "origin")
    sha = origin.commit({"a.txt": "hello"})
    fake_github.add_repo("acme/prompts")
    fake_github.apps.add_app(APP_ID, public)
    installation = fake_github.apps.add_installation(APP_ID, "acme", ["acme/prompts"])
    fake_github.apps.serve_git("acme/prompts", origin.path)
    token = _integration(fake_github, private).get_access_token(installation.id).token
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "c.git")], check=True)

    def fetch(secret: str) -> subprocess.CompletedProcess[str]:
        header = "Authorization: Basic " + base64.b64encode(f"x-access-token:{secret}".encode()).decode()
        env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": header,
        }
        return subprocess.run(
            [
                "git",
                "-C",
                str(tmp_path / "c.git"),
                "fetch",
                "-q",
                "--depth=1",
                f"{fake_github.url}/acme/prompts.git",
                sha,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    refused = fetch("ghs_not-a-token")
    fetched = fetch(token)

    assert refused.returncode != 0
    assert fetched.returncode == 0, fetched.stderr
    shown = subprocess.run(
        ["git", "-C", str(tmp_path / "c.git"), "show", f"{sha}:a.txt"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout == "hello"
    statuses = [r.status for r in fake_github.apps.git_requests]
    assert statuses[0] == 401 and 200 in statuses
