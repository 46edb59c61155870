"""Which endpoint to call, and with which key.

The order is the one a user expects: what they passed explicitly, then the standard OpenAI
variables, then (only inside GitHub Actions) GitHub Models with the job's own token, so a team
can start without creating a secret. Anything else is a clear error naming what to set, never a
stack trace from deep inside the SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from promptreview.errors import ModelConfigError

Provider = Literal["github-models", "openai-compatible"]

GITHUB_MODELS_URL = "https://models.github.ai/inference"
OPENAI_URL = "https://api.openai.com/v1"

# GitHub Models' free tier allows 2 concurrent requests on "high" models and 5 on "low" ones
# (FORMAT.md §10); 2 keeps us inside both. Paid OpenAI-compatible endpoints take far more.
GITHUB_MODELS_CONCURRENCY = 2
DEFAULT_CONCURRENCY = 8

_GITHUB_MODELS_HOSTS = ("models.github.ai", "models.inference.ai.azure.com")


@dataclass(frozen=True)
class Endpoint:
    """A resolved endpoint. ``api_key`` is kept out of ``repr`` so it never lands in a log."""

    base_url: str
    api_key: str = field(repr=False)
    provider: Provider = "openai-compatible"
    source: str = ""

    @property
    def default_concurrency(self) -> int:
        return GITHUB_MODELS_CONCURRENCY if self.provider == "github-models" else DEFAULT_CONCURRENCY

    @property
    def display_url(self) -> str:
        """The base URL without credentials or query string, safe to print."""
        return display_url(self.base_url)

    @property
    def is_github_models(self) -> bool:
        return self.provider == "github-models"


def display_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:  # not a number: show the host alone rather than fail on a bad URL
        port = None
    if port:
        host = f"{host}:{port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def provider_of(base_url: str) -> Provider:
    host = (urlsplit(base_url).hostname or "").lower()
    return "github-models" if host in _GITHUB_MODELS_HOSTS else "openai-compatible"


def _get(env: Mapping[str, str], name: str) -> str | None:
    # Actions passes unset inputs as empty strings: treat them as absent.
    value = env.get(name)
    return value.strip() if value and value.strip() else None


def _check_url(url: str, where: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError as exc:
        raise ModelConfigError(f"{where} is not a valid URL ({display_url(url)!r}): {exc}") from None
    if parts.username is not None or parts.password is not None:
        raise ModelConfigError(
            f"{where} must not carry credentials (user:password@ in {display_url(url)!r}): they would "
            "be printed with the URL; pass the key as api-key / OPENAI_API_KEY instead"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelConfigError(
            f"{where} is not an http(s) URL: {display_url(url)!r}; "
            f"expected something like {OPENAI_URL} or {GITHUB_MODELS_URL}"
        )
    return url.rstrip("/")


def resolve_endpoint(base_url: str | None, api_key: str | None, env: Mapping[str, str]) -> Endpoint:
    """Pick base URL and key: explicit args > OPENAI_BASE_URL/OPENAI_API_KEY > GitHub Models in Actions."""
    url_source = "base-url" if base_url else "OPENAI_BASE_URL"
    url = (base_url or "").strip() or _get(env, "OPENAI_BASE_URL")
    if url is not None:
        url = _check_url(url, url_source)

    key = (api_key or "").strip() or None
    key_source = "api-key"
    if key is None:
        key = _get(env, "OPENAI_API_KEY")
        key_source = "OPENAI_API_KEY"

    if key is not None:
        final = url or OPENAI_URL
        source = f"{key_source} with {url_source if url else 'the OpenAI default URL'}"
        return Endpoint(final, key, provider_of(final), source)

    in_actions = _get(env, "GITHUB_ACTIONS") == "true"
    github_token = _get(env, "GITHUB_TOKEN")
    wants_github = url is None or provider_of(url) == "github-models"

    if wants_github and github_token and (in_actions or url is not None):
        final = url or GITHUB_MODELS_URL
        return Endpoint(final, github_token, "github-models", "GITHUB_TOKEN for GitHub Models")

    if in_actions and wants_github:
        raise ModelConfigError(
            "no model API key: GITHUB_TOKEN is not in the environment. To use GitHub Models (free tier), "
            "pass `env: GITHUB_TOKEN: ${{ github.token }}` to the step and grant "
            "`permissions: models: read`; "
            "to use another provider, set the `api-key` input (and `base-url` for non-OpenAI endpoints)"
        )
    if url is not None and not wants_github:
        raise ModelConfigError(
            f"no API key for {display_url(url)}: set OPENAI_API_KEY or pass --api-key "
            "(any non-empty value works for a local server without auth)"
        )
    raise ModelConfigError(
        "no model API key: set OPENAI_API_KEY (and OPENAI_BASE_URL for a non-OpenAI endpoint), or pass "
        f"--api-key/--base-url. For GitHub Models locally: OPENAI_BASE_URL={GITHUB_MODELS_URL} "
        "OPENAI_API_KEY=$(gh auth token)"
    )
