"""The App server's settings, read once from the environment (and flags) and validated here.

Names follow probot's and Atlantis' conventions (``GITHUB_APP_ID``, ``GITHUB_WEBHOOK_SECRET``...).
Every problem is one line naming the variable; ``serve`` refuses to start without a webhook
secret, because an endpoint that accepts unsigned deliveries lets anyone spend the model budget.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from promptreview.errors import PromptReviewError
from promptreview.github.api import DEFAULT_API_URL
from promptreview.github.core import ReviewSettings

DEFAULT_SERVER_URL = "https://github.com"
MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB


class ConfigError(PromptReviewError):
    """A setting is missing or malformed; the message names the variable."""


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value.strip() if value and value.strip() else None


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = _get(env, name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, not {raw!r}")
    return int(raw)


def _float(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if not value > 0:
        raise ConfigError(f"{name} must be greater than 0, not {raw!r}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = (_get(env, name) or "false").lower()
    if raw not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"{name} must be true or false, not {raw!r}")
    return raw in ("true", "1", "yes")


@dataclass(frozen=True)
class Allowlist:
    """``owner/repo`` or ``owner/*`` patterns (case-insensitive); empty allows every installed repo."""

    patterns: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: str | None) -> Allowlist:
        patterns = tuple(p.strip().lower() for p in (raw or "").split(",") if p.strip())
        for pattern in patterns:
            owner, _, name = pattern.partition("/")
            if not owner or not name or "*" in owner or ("*" in name and name != "*"):
                raise ConfigError(f"PROMPTREVIEW_ALLOW: {pattern!r} is not `owner/repo` or `owner/*`")
        return cls(patterns)

    def allows(self, full_name: str) -> bool:
        if not self.patterns:
            return True
        name = full_name.lower()
        return any(fnmatch.fnmatchcase(name, p) if p.endswith("/*") else name == p for p in self.patterns)


@dataclass(frozen=True)
class AppConfig:
    """Everything ``serve`` and ``worker`` need; secrets are kept out of ``repr``."""

    app_id: str
    private_key: str = field(repr=False)
    webhook_secret: bytes = field(repr=False)
    api_url: str
    server_url: str
    allow: Allowlist
    queue_url: str | None  # None: huey's SQLite backend in the serve process
    state_dir: Path
    cache_path: str
    workers: int
    installation_limit: int
    review_forks: bool
    max_body: int
    lease_s: float
    settings: ReviewSettings
    model_env: Mapping[str, str] = field(repr=False)

    @property
    def embedded(self) -> bool:
        return self.queue_url is None

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, need_secret: bool) -> AppConfig:
        secret = _get(env, "GITHUB_WEBHOOK_SECRET")
        if need_secret and secret is None:
            raise ConfigError(
                "GITHUB_WEBHOOK_SECRET is not set: promptreview serve refuses unsigned webhooks "
                "(set it to the App's webhook secret)"
            )
        app_id = _get(env, "GITHUB_APP_ID")
        if app_id is None or not app_id.isdigit():
            raise ConfigError(f"GITHUB_APP_ID must be the App's numeric id, not {app_id!r}")
        queue = _get(env, "PROMPTREVIEW_QUEUE")
        if queue is not None and not queue.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"PROMPTREVIEW_QUEUE must be a redis:// URL (or unset for SQLite), not {queue!r}"
            )
        state = Path(_get(env, "PROMPTREVIEW_STATE_DIR") or _default_state_dir(env))
        return cls(
            app_id=app_id,
            private_key=_private_key(env),
            webhook_secret=(secret or "").encode("utf-8"),
            api_url=(_get(env, "GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
            server_url=(_get(env, "GITHUB_SERVER_URL") or DEFAULT_SERVER_URL).rstrip("/"),
            allow=Allowlist.parse(_get(env, "PROMPTREVIEW_ALLOW")),
            queue_url=queue,
            state_dir=state,
            cache_path=_get(env, "PROMPTREVIEW_CACHE") or str(state / "cache.sqlite"),
            workers=_int(env, "PROMPTREVIEW_WORKERS", 2, 1, 256),
            installation_limit=_int(env, "PROMPTREVIEW_INSTALLATION_LIMIT", 2, 1, 256),
            review_forks=_bool(env, "PROMPTREVIEW_REVIEW_FORKS"),
            max_body=_int(env, "PROMPTREVIEW_MAX_BODY", MAX_BODY_BYTES, 1024, 100 * 1024 * 1024),
            lease_s=_float(env, "PROMPTREVIEW_LEASE_SECONDS", 30.0) or 30.0,
            settings=_settings(env),
            model_env={k: v for k, v in env.items() if k.startswith(("OPENAI_", "PROMPTREVIEW_"))},
        )


def _default_state_dir(env: Mapping[str, str]) -> str:
    base = _get(env, "XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "promptreview")


def _private_key(env: Mapping[str, str]) -> str:
    pem = _get(env, "GITHUB_APP_PRIVATE_KEY")
    path = _get(env, "GITHUB_APP_PRIVATE_KEY_PATH")
    if pem is None and path is not None:
        try:
            pem = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"GITHUB_APP_PRIVATE_KEY_PATH: cannot read {path}: {exc.strerror}") from None
    if pem is None:
        raise ConfigError("set GITHUB_APP_PRIVATE_KEY (the PEM) or GITHUB_APP_PRIVATE_KEY_PATH (its file)")
    pem = pem.replace("\\n", "\n")  # a PEM passed through a one-line env var
    if "-----BEGIN" not in pem or "PRIVATE KEY-----" not in pem:
        raise ConfigError("the App's private key is not a PEM private key (-----BEGIN ... PRIVATE KEY-----)")
    return pem


def _settings(env: Mapping[str, str]) -> ReviewSettings:
    comment = (_get(env, "PROMPTREVIEW_COMMENT") or "on-change").lower()
    if comment not in ("always", "on-change", "off"):
        raise ConfigError(f"PROMPTREVIEW_COMMENT must be always, on-change or off, not {comment!r}")
    max_calls = _get(env, "PROMPTREVIEW_MAX_CALLS")
    return ReviewSettings(
        model=_get(env, "PROMPTREVIEW_MODEL"),
        judge=_get(env, "PROMPTREVIEW_JUDGE"),
        check_name=_get(env, "PROMPTREVIEW_CHECK_NAME") or "promptreview",
        comment=comment,  # type: ignore[arg-type]
        concurrency=_int(env, "PROMPTREVIEW_CONCURRENCY", 4, 1, 512),
        max_calls=_int(env, "PROMPTREVIEW_MAX_CALLS", 0, 1, 10_000_000) if max_calls else None,
        max_cost=_float(env, "PROMPTREVIEW_MAX_COST", None),
    )
