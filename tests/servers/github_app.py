"""The loopback GitHub's App side: App JWTs, installations, installation tokens, and git over HTTP.

``GitHubServer.apps`` (an :class:`AppSupport`) makes the fake answer what a GitHub App server
calls, held to ``openapi-app-subset.json`` the way the rest is held to ``openapi-subset.json``:

* ``GET /app``, ``GET /app/installations``, ``GET /repos/{o}/{r}/installation`` and
  ``POST /app/installations/{id}/access_tokens`` accept only a JWT signed (RS256) with the App's
  private key, issued by the App's id, valid for at most ten minutes, exactly as GitHub checks it;
* an access token is a fresh ``ghs_`` credential acting as ``<slug>[bot]``, limited to the
  installation's repositories (404 elsewhere) and expiring at ``expires_at``; every REST call and
  every git request checks it;
* git's smart HTTP protocol (``/{owner}/{repo}.git/info/refs`` and ``git-upload-pack``) is served
  by git's own ``git http-backend`` for the repositories registered with :meth:`serve_git`,
  behind ``Authorization: Basic x-access-token:<token>``; pushing is refused.
"""

from __future__ import annotations

import base64
import copy
import re
import secrets
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt

from .openapi_contract import Contract, SchemaProblem, to_json_schema  # noqa: F401 (re-exported for tests)

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler

    from .github_server import GitHubServer, Reply

APP_SUBSET_FILE = Path(__file__).resolve().parents[1] / "fixtures" / "github" / "openapi-app-subset.json"
OP_APP = "GET /app"
OP_INSTALLATIONS = "GET /app/installations"
OP_REPO_INSTALLATION = "GET /repos/{owner}/{repo}/installation"
OP_ACCESS_TOKEN = "POST /app/installations/{installation_id}/access_tokens"
OP_LIST_CHECKS = "GET /repos/{owner}/{repo}/commits/{ref}/check-runs"
JWT_OPERATIONS = frozenset({OP_APP, OP_INSTALLATIONS, OP_REPO_INSTALLATION, OP_ACCESS_TOKEN})
TOKEN_LIFETIME_S = 3600
_GIT_PATH = re.compile(
    r"^/(?P<owner>[^/]+)/(?P<repo>[^/]+?)(?:\.git)?/(?P<rest>info/refs|git-upload-pack|git-receive-pack)$"
)
_lock = threading.Lock()
_contract: Contract | None = None


def load_app_contract() -> Contract:
    """The App subset, parsed once per process (like ``load_contract``)."""
    global _contract
    with _lock:
        if _contract is None:
            import json

            with APP_SUBSET_FILE.open(encoding="utf-8") as handle:
                _contract = Contract(json.load(handle), APP_SUBSET_FILE)
        return _contract


@dataclass
class App:
    id: int
    slug: str
    name: str
    public_key: str
    owner: str

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"


@dataclass
class Installation:
    id: int
    app_id: int
    account: str
    repos: set[str] | None  # None: every repository of the account ("all")
    suspended: bool = False
    created_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def covers(self, full_name: str) -> bool:
        if self.suspended:
            return False
        if self.repos is None:
            return full_name.lower().split("/")[0] == self.account.lower()
        return full_name.lower() in self.repos


@dataclass(frozen=True)
class GitRequest:
    """One git smart-HTTP request, for tests to assert on (who asked, for what, what they got)."""

    method: str
    path: str
    status: int
    token_login: str | None


class AppSupport:
    """Apps, installations and git hosting for one :class:`GitHubServer` (its lock guards state)."""

    def __init__(self, server: GitHubServer) -> None:
        self.server = server
        self.contract = load_app_contract()
        self.apps: dict[int, App] = {}
        self.installations: dict[int, Installation] = {}
        self.tokens: dict[str, tuple[int, float]] = {}  # token -> (installation id, expiry)
        self.git_roots: dict[str, Path] = {}
        self.git_requests: list[GitRequest] = []
        self._next_installation = 40_000_001

    # -- seeding ------------------------------------------------------------------------------------
    def add_app(
        self, app_id: int, public_key_pem: str, *, slug: str = "promptreview-test", owner: str = "acme"
    ) -> App:
        with self.server._lock:
            app = App(app_id, slug, slug.replace("-", " ").title(), public_key_pem, owner)
            self.apps[app_id] = app
            self.server.add_account(app.bot_login, "Bot")
            return app

    def add_installation(self, app_id: int, account: str, repos: list[str] | None = None) -> Installation:
        with self.server._lock:
            ident = self._next_installation
            self._next_installation += 1
            found = Installation(
                ident, app_id, account, None if repos is None else {r.lower() for r in repos}
            )
            self.installations[ident] = found
            return found

    def remove_repository(self, installation_id: int, full_name: str) -> None:
        with self.server._lock:
            repos = self.installations[installation_id].repos
            if repos is not None:
                repos.discard(full_name.lower())

    def serve_git(self, full_name: str, git_dir: Path) -> None:
        """Serve ``git_dir`` (a repository, bare or not) as ``{server}/{full_name}.git``."""
        with self.server._lock:
            self.git_roots[full_name.lower()] = Path(git_dir)

    def tokens_for(self, installation_id: int) -> list[str]:
        with self.server._lock:
            return [t for t, (i, _) in self.tokens.items() if i == installation_id]

    # -- authentication --------------------------------------------------------------------------------
    def app_for_jwt(self, credential: str) -> tuple[App | None, str]:
        """The App a JWT proves, or None and GitHub's message for why not."""
        try:
            unverified = jwt.decode(credential, options={"verify_signature": False})
            app = self.apps.get(int(str(unverified.get("iss"))))
        except (jwt.PyJWTError, ValueError, TypeError):
            return None, "A JSON web token could not be decoded"
        if app is None:
            return None, "Integration not found"
        try:
            claims = jwt.decode(
                credential,
                app.public_key,
                algorithms=["RS256"],
                options={"require": ["exp", "iat", "iss"]},
                leeway=60,
            )
        except jwt.ExpiredSignatureError:
            return (
                None,
                "'Expiration time' claim ('exp') must be a numeric value representing the future time "
                "at which the assertion expires",
            )
        except jwt.PyJWTError:
            return None, "A JSON web token could not be decoded"
        if int(claims["exp"]) - int(claims["iat"]) > 660:
            return None, "'Expiration time' claim ('exp') is too far in the future"
        return app, ""

    def installation_token(self, credential: str) -> tuple[Installation | None, bool]:
        """(installation, expired) for an access token this server issued; (None, False) otherwise."""
        found = self.tokens.get(credential)
        if found is None:
            return None, False
        installation_id, expires = found
        return self.installations.get(installation_id), time.time() > expires

    # -- REST: the JWT operations ------------------------------------------------------------------------
    def route(self, method: str, path: str) -> tuple[Any, dict[str, str]] | None:
        matched = self.contract.match(method, path)
        if matched is None or matched[0].key not in JWT_OPERATIONS:
            return None
        return matched

    def serve_jwt(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[Reply, str] | None:
        """Answer an App (JWT) operation, or None when ``path`` is not one."""
        from .github_server import Reply, _parse_json, error_body

        matched = self.route(method, path)
        if matched is None:
            return None
        operation, params = matched
        docs = operation.docs_url
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            return Reply(401, error_body("A JSON web token could not be decoded", docs, 401)), operation.key
        app, why = self.app_for_jwt(credential.strip())
        if app is None:
            return Reply(401, error_body(why, docs, 401)), operation.key
        body, parsed = _parse_json(raw)
        if not parsed:
            return Reply(400, error_body("Problems parsing JSON", docs, 400)), operation.key
        if operation.request_schema() is not None:
            found = self.contract.request_problems(operation, body if body is not None else {})
            if found:
                from .openapi_contract import github_invalid_request_message

                reply = Reply(422, error_body(github_invalid_request_message(found), docs, 422))
                reply.violation, reply.problems = "request", tuple(p.render() for p in found)
                return reply, operation.key
        handler = {
            OP_APP: self._get_app,
            OP_INSTALLATIONS: self._list_installations,
            OP_REPO_INSTALLATION: self._repo_installation,
            OP_ACCESS_TOKEN: self._access_token,
        }[operation.key]
        reply = handler(app, params, body or {}, docs)
        if 200 <= reply.status < 300:
            problems = self.contract.response_problems(operation, reply.status, reply.body)
            if problems:
                reply.violation, reply.problems = "response", tuple(p.render() for p in problems)
        return reply, operation.key

    def _example(self, key: str, status: int) -> dict[str, Any]:
        return copy.deepcopy(self.contract.operation(key).example(status))

    def _app_body(self, app: App) -> dict[str, Any]:
        out = self._example(OP_APP, 200)
        web = self.server.web_url
        out.update(
            id=app.id,
            slug=app.slug,
            name=app.name,
            node_id=f"A_{app.id}",
            html_url=f"{web}/apps/{app.slug}",
            external_url=f"{web}/apps/{app.slug}",
            permissions={
                "checks": "write",
                "contents": "read",
                "metadata": "read",
                "pull_requests": "write",
                "statuses": "write",
            },
            events=["check_run", "check_suite", "issue_comment", "pull_request"],
        )
        out["owner"] = {**out["owner"], **self.server._render.user(app.owner)}
        return out

    def _installation_body(self, found: Installation) -> dict[str, Any]:
        out = self._example(OP_REPO_INSTALLATION, 200)
        api = self.server.url
        app = self.apps[found.app_id]
        out.update(
            id=found.id,
            app_id=found.app_id,
            app_slug=app.slug,
            target_type="Organization",
            repository_selection="all" if found.repos is None else "selected",
            access_tokens_url=f"{api}/app/installations/{found.id}/access_tokens",
            repositories_url=f"{api}/installation/repositories",
            html_url=f"{self.server.web_url}/organizations/{found.account}/settings/installations/{found.id}",
            created_at=found.created_at,
            updated_at=found.created_at,
            suspended_at=None,
            suspended_by=None,
        )
        out["account"] = {**out["account"], **self.server._render.user(found.account)}
        out["target_id"] = out["account"]["id"]
        return out

    def _get_app(self, app: App, params: dict[str, str], body: Any, docs: str) -> Reply:
        from .github_server import Reply

        return Reply(200, self._app_body(app))

    def _list_installations(self, app: App, params: dict[str, str], body: Any, docs: str) -> Reply:
        from .github_server import Reply

        mine = [self._installation_body(i) for i in self.installations.values() if i.app_id == app.id]
        return Reply(200, mine)

    def _repo_installation(self, app: App, params: dict[str, str], body: Any, docs: str) -> Reply:
        from .github_server import Reply, error_body

        name = f"{urllib.parse.unquote(params['owner'])}/{urllib.parse.unquote(params['repo'])}"
        for found in self.installations.values():
            if found.app_id == app.id and found.covers(name):
                return Reply(200, self._installation_body(found))
        return Reply(404, error_body("Not Found", docs, 404))

    def _access_token(self, app: App, params: dict[str, str], body: Any, docs: str) -> Reply:
        from .github_server import Reply, error_body

        ident = params["installation_id"]
        found = self.installations.get(int(ident)) if ident.isdigit() else None
        if found is None or found.app_id != app.id:
            return Reply(404, error_body("Not Found", docs, 404))
        if found.suspended:
            return Reply(403, error_body("This installation has been suspended", docs, 403))
        token = "ghs_" + secrets.token_hex(18)
        expires = time.time() + TOKEN_LIFETIME_S
        self.tokens[token] = (found.id, expires)
        self.server.add_token(token, app.bot_login, type="Bot")
        out = self._example(OP_ACCESS_TOKEN, 201)
        out.update(
            token=token,
            expires_at=datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            permissions={
                "checks": "write",
                "contents": "read",
                "metadata": "read",
                "pull_requests": "write",
                "statuses": "write",
            },
            repository_selection="all" if found.repos is None else "selected",
        )
        out.pop("repositories", None)
        return Reply(201, out)

    # -- git over smart HTTP ---------------------------------------------------------------------------------
    def is_git(self, target: str) -> bool:
        return bool(_GIT_PATH.match(urllib.parse.urlsplit(target).path))

    def serve_git_request(self, handler: BaseHTTPRequestHandler) -> None:
        split = urllib.parse.urlsplit(handler.path)
        found = _GIT_PATH.match(split.path)
        assert found is not None
        full_name = f"{found['owner']}/{found['repo']}"
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        login = None
        with self.server._lock:
            root = self.git_roots.get(full_name.lower())
            installation, expired, login = self._git_identity(handler.headers.get("Authorization", ""))
            allowed = installation is not None and not expired and installation.covers(full_name)
        if root is None or not allowed:
            status = 404 if root is None and allowed else 401
            self._git_reply(
                handler,
                status,
                {"WWW-Authenticate": 'Basic realm="GitHub"'} if status == 401 else {},
                b"Repository not found.\n" if status == 404 else b"Invalid username or token.\n",
            )
            self._record_git(handler.command, split.path, status, login)
            return
        if found["rest"] == "git-receive-pack" or "service=git-receive-pack" in split.query:
            self._git_reply(handler, 403, {}, b"Write access to repository not granted.\n")
            self._record_git(handler.command, split.path, 403, login)
            return
        env = {
            "PATH": "/usr/bin:/bin",
            "GIT_PROJECT_ROOT": str(root.parent),
            "PATH_INFO": f"/{root.name}/{found['rest']}",
            "REQUEST_METHOD": handler.command,
            "QUERY_STRING": split.query,
            "CONTENT_TYPE": handler.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": login or "",
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "uploadpack.allowAnySHA1InWant",
            "GIT_CONFIG_VALUE_0": "true",
            "GIT_CONFIG_KEY_1": "safe.directory",
            "GIT_CONFIG_VALUE_1": "*",
        }
        if handler.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = handler.headers["Git-Protocol"]
            env["HTTP_GIT_PROTOCOL"] = handler.headers["Git-Protocol"]
        if handler.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = handler.headers["Content-Encoding"]
        proc = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        status, headers = 200, {}
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers[name.strip()] = value.strip()
        if proc.returncode != 0 and not head:
            status, payload = 500, proc.stderr
        self._git_reply(handler, status, headers, payload)
        self._record_git(handler.command, split.path, status, login)

    def _git_identity(self, authorization: str) -> tuple[Installation | None, bool, str | None]:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None, False, None
        try:
            _, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None, False, None
        installation, expired = self.installation_token(password)
        token = self.server._tokens.get(password)
        return installation, expired, token.account.login if token else None

    def _record_git(self, method: str, path: str, status: int, login: str | None) -> None:
        with self.server._lock:
            self.git_requests.append(GitRequest(method, path, status, login))

    @staticmethod
    def _git_reply(
        handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], payload: bytes
    ) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


def generate_app_key() -> tuple[str, str]:
    """(private PEM, public PEM): a fresh 2048-bit RSA key, as GitHub hands out for an App."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public
