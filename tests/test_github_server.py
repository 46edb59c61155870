"""The loopback GitHub server, checked against GitHub's spec and PyGithub's recorded exchanges.

Two kinds of evidence keep the fake honest:

* ``openapi-subset.json``: the server validates every request and response against it, and
  each test's fixture fails the test if anything broke the contract;
* ``pygithub-replay/``: PyGithub's own recordings of api.github.com. The replay tests drive
  real PyGithub through the same calls and check that PyGithub sends our server the request
  it sent GitHub, and that our answer has (at least) the keys GitHub's answer had.

The remaining tests use the server the way the action's tests will, asserting on what a
user would see on the pull request (comments, reactions, statuses, check runs).
"""

from __future__ import annotations

import ast
import base64
import http.client
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import github
import jsonschema
import pytest
import requests
from github import Auth, Github, GithubException

from servers.github_server import (
    ACTIONS_BOT_LOGIN,
    ACTIONS_TOKEN,
    COMMENT_BODY_LIMIT,
    FORK_TOKEN,
    STATUS_CONTEXT_LIMIT,
    STATUS_DESCRIPTION_LIMIT,
    USER_TOKEN,
    GitHubServer,
    RecordedRequest,
    comment_too_long_body,
    running_github_server,
)
from servers.openapi_contract import find_subset_file, load_contract, to_json_schema

REPLAY_DIR = find_subset_file().parent / "pygithub-replay"
# IssueComment.setUp was recorded by a repository admin; GitHub shows these to admins only,
# and the test drives it with GITHUB_TOKEN (write).
ADMIN_ONLY = frozenset({"security_and_analysis"})
REPO = "acme/prompts"


# ---------------------------------------------------------------------------------------
# fixtures and helpers
# ---------------------------------------------------------------------------------------
@pytest.fixture
def server() -> Iterator[GitHubServer]:
    with running_github_server() as running:
        yield running


def client(server: GitHubServer, token: str = ACTIONS_TOKEN, **options: Any) -> Github:
    """Real PyGithub against the loopback URL; no retries unless a test asks for them.

    PyGithub spaces requests out (0.25 s, and 1 s between writes) to spare GitHub's
    secondary rate limit; against the loopback server that is only lost time.
    """
    options.setdefault("retry", None)
    options.setdefault("seconds_between_requests", 0)
    options.setdefault("seconds_between_writes", 0)
    return Github(base_url=server.url, auth=Auth.Token(token), **options)


def raw(
    server: GitHubServer,
    method: str,
    path: str,
    token: str | None = ACTIONS_TOKEN,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> requests.Response:
    """A plain HTTP request, for what PyGithub hides (headers, exact bodies)."""
    sent = {"Authorization": f"token {token}"} if token else {}
    sent.update(headers or {})
    return requests.request(method, f"{server.url}{path}", headers=sent, timeout=10, **kwargs)


@pytest.fixture
def pr(server: GitHubServer) -> int:
    """acme/prompts#7: one prompt edited, the usual review scenario."""
    pull = server.open_pull_request(
        REPO,
        base_files={"prompts/support.md.j2": "Answer {{ q }}\n", "evals/support.yaml": "- vars: {q: hi}\n"},
        head_changes={"prompts/support.md.j2": "Answer {{ q }} politely\n"},
        number=7,
        author="alice",
    )
    return pull.number


# ---------------------------------------------------------------------------------------
# PyGithub's recordings (fixtures README §3)
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Exchange:
    verb: str
    path: str
    query: tuple[tuple[str, str], ...]
    request_body: Any
    status: int
    response_headers: dict[str, str]
    response_text: str

    @property
    def response(self) -> Any:
        return json.loads(self.response_text) if self.response_text.strip() else None


@cache
def recording(name: str) -> tuple[Exchange, ...]:
    """Parse a ReplayData file (11 lines per exchange) the way the README describes."""
    lines = (REPLAY_DIR / name).read_text(encoding="utf-8").split("\n")
    found, i = [], 0
    while i + 9 < len(lines):
        if lines[i].strip() not in ("http", "https"):
            i += 1
            continue
        target = lines[i + 4].strip()
        path, _, query = target.partition("?")
        body = lines[i + 6]
        found.append(
            Exchange(
                verb=lines[i + 1].strip(),
                path=path,
                query=tuple(sorted(re.findall(r"([^&=]+)=([^&]*)", query))),
                request_body=None if body.strip() == "None" else json.loads(body),
                status=int(lines[i + 7]),
                response_headers={k.lower(): v for k, v in ast.literal_eval(lines[i + 8])},
                response_text=lines[i + 9],
            )
        )
        i += 11
    return tuple(found)


def modulo_ids(path: str) -> str:
    """Comment and check-run ids are GitHub's; ours differ, the rest of the path must not."""
    return re.sub(r"/\d{5,}(?=/|$)", "/{id}", path)


def sent_like(server: GitHubServer, recorded: Exchange) -> RecordedRequest:
    """Our request that corresponds to ``recorded``: same verb, path (modulo ids) and sorted query."""
    for ours in server.requests:
        same_route = ours.method == recorded.verb and modulo_ids(ours.path) == modulo_ids(recorded.path)
        if same_route and tuple(sorted(ours.query.items())) == recorded.query:
            return ours
    sent = [(r.method, r.path, r.query) for r in server.requests]
    raise AssertionError(
        f"PyGithub never sent {recorded.verb} {recorded.path}?{recorded.query}; it sent {sent}"
    )


def top_level_keys(body: Any) -> set[str]:
    """Keys of an object, or of a list's first item (list responses are lists of one kind)."""
    if isinstance(body, list):
        return set(body[0]) if body else set()
    return set(body) if isinstance(body, dict) else set()


def assert_replays(
    server: GitHubServer, recorded: Exchange, *, expected_missing: frozenset[str] = frozenset()
) -> RecordedRequest:
    """PyGithub sent us what it sent GitHub, and our answer has the recorded answer's keys.

    ``expected_missing``: keys the recorded answer has and ours lacks, each for a reason
    given where the constant is defined. The check is an equality, so an exception that is
    no longer needed fails the test too and the list cannot go stale.
    """
    ours = sent_like(server, recorded)
    assert ours.body == recorded.request_body
    assert ours.status == recorded.status
    missing = top_level_keys(recorded.response) - top_level_keys(ours.response)
    assert missing == set(expected_missing), f"keys GitHub sent that we do not: {sorted(missing)}"
    return ours


def as_datetime(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------
# replays: the requests PyGithub sends, and the shape of what it gets back
# ---------------------------------------------------------------------------------------
def test_replay_get_repo(server: GitHubServer) -> None:
    """Recorded by a maintainer, so as an admin: that is when GitHub adds security_and_analysis."""
    server.add_repo("PyGithub/PyGithub", owner_type="Organization")
    server.add_token("ghp_maintainer", "EnricoMi")
    server.set_permission("PyGithub/PyGithub", "EnricoMi", "admin")
    repo = client(server, "ghp_maintainer").get_repo("PyGithub/PyGithub")
    assert_replays(server, recording("Repository.setUp.txt")[0])
    assert (repo.full_name, repo.owner.type, repo.permissions.admin) == (
        "PyGithub/PyGithub",
        "Organization",
        True,
    )


def test_replay_get_pull_whose_fork_was_deleted(server: GitHubServer) -> None:
    """PR #31's fork is gone: GitHub answers head.repo/user/label null, against its own schema."""
    get_repo, get_pull = recording("PullRequest.setUp.txt")[:2]
    recorded = get_pull.response
    server.add_repo("PyGithub/PyGithub", owner_type="Organization")
    server.add_pull(
        "PyGithub/PyGithub",
        number=31,
        head_sha=recorded["head"]["sha"],
        head_ref=recorded["head"]["ref"],
        head_repo=None,
        base_sha=recorded["base"]["sha"],
        base_ref=recorded["base"]["ref"],
        author=recorded["user"]["login"],
        title=recorded["title"],
        state=recorded["state"],
    )
    pull = client(server).get_repo("PyGithub/PyGithub").get_pull(31)
    assert_replays(server, get_repo)
    assert_replays(server, get_pull)
    assert pull.head.repo is None and pull.head.sha == recorded["head"]["sha"]
    assert pull.base.ref == recorded["base"]["ref"]


def test_replay_list_pull_files(server: GitHubServer) -> None:
    recorded = recording("PullRequest.testGetFiles.txt")[0]
    server.add_repo("PyGithub/PyGithub")
    base = server.add_commit("PyGithub/PyGithub", {"github/Repository.py": "a\nb\n", "old.py": "x\n"})
    head = server.add_commit("PyGithub/PyGithub", changes={"github/Repository.py": "a\nB\n", "old.py": None})
    server.add_pull("PyGithub/PyGithub", number=31, head_sha=head, base_sha=base)
    files = list(client(server).get_repo("PyGithub/PyGithub").get_pull(31).get_files())
    assert_replays(server, recorded)
    assert [(f.filename, f.status, f.additions, f.deletions) for f in files] == [
        ("github/Repository.py", "modified", 1, 1),
        ("old.py", "removed", 0, 1),
    ]


def test_replay_compare_two_tags(server: GitHubServer) -> None:
    recorded = recording("Repository.testCompare.txt")[0]
    server.add_repo("PyGithub/PyGithub")
    server.add_tag("PyGithub/PyGithub", "v0.6", server.add_commit("PyGithub/PyGithub", {"a.py": "1\n"}))
    for n in range(recorded.response["ahead_by"]):
        server.add_commit("PyGithub/PyGithub", changes={f"f{n}.py": f"{n}\n"}, message=f"change {n}")
    server.add_tag("PyGithub/PyGithub", "v0.7", server.repo("PyGithub/PyGithub").branches["main"])
    comparison = client(server).get_repo("PyGithub/PyGithub").compare("v0.6", "v0.7")
    assert_replays(server, recorded)
    assert (comparison.status, comparison.ahead_by, comparison.behind_by) == ("ahead", 4, 0)
    assert [c.commit.message for c in comparison.commits] == [f"change {n}" for n in range(4)]


def test_replay_get_file_contents_is_content_addressed(server: GitHubServer) -> None:
    """Seeded with the recorded bytes, the file gets the very blob sha GitHub reported."""
    recorded = recording("Repository.testGetContents.txt")[1]
    data = base64.b64decode(recorded.response["content"])
    server.add_repo("PyGithub/PyGithub")
    server.add_commit("PyGithub/PyGithub", {"doc/ReferenceOfClasses.md": data})
    content = client(server).get_repo("PyGithub/PyGithub").get_contents("doc/ReferenceOfClasses.md")
    assert_replays(server, recorded)
    assert (content.sha, content.decoded_content) == (recorded.response["sha"], data)


def test_replay_list_root_directory(server: GitHubServer) -> None:
    recorded = recording("Repository.testGetContentsDir.txt")[0]
    entries = [(e["name"], e["type"]) for e in recorded.response]
    files = {name if kind == "file" else f"{name}/README": "x\n" for name, kind in entries}
    server.add_repo("PyGithub/PyGithub")
    server.add_commit("PyGithub/PyGithub", files)
    listing = client(server).get_repo("PyGithub/PyGithub").get_contents("")
    assert_replays(server, recorded)
    assert [(c.name, c.type) for c in listing] == entries


def test_replay_get_tree_by_commit_sha(server: GitHubServer) -> None:
    recorded = recording("GitRef.testExample.txt")[2]
    commit_sha = recorded.path.rsplit("/", 1)[1]
    top = recorded.response["tree"]
    files = {
        e["path"] if e["type"] == "blob" else f"{e['path']}/x": "x\n" for e in top if e["type"] != "commit"
    }
    server.add_repo("EnricoMi/PyGithub")
    server.add_commit("EnricoMi/PyGithub", files, sha=commit_sha)
    tree = client(server).get_repo("EnricoMi/PyGithub").get_git_tree(commit_sha)
    assert_replays(server, recorded)
    assert [(e.path, e.type, e.mode) for e in tree.tree] == [(e["path"], e["type"], e["mode"]) for e in top]


def test_replay_blob_through_the_authenticated_user(server: GitHubServer) -> None:
    """``g.get_user().get_repo(..).get_git_blob(sha)``: the same three requests, in order."""
    exchanges = recording("GitBlob.setUp.txt")
    blob = exchanges[2].response
    server.add_token("ghp_jacquev6", "jacquev6")
    server.add_repo("jacquev6/PyGithub")
    server.add_commit("jacquev6/PyGithub", {"setup.py": base64.b64decode(blob["content"])})
    fetched = client(server, "ghp_jacquev6").get_user().get_repo("PyGithub").get_git_blob(blob["sha"])
    assert [(r.method, r.path) for r in server.requests] == [(e.verb, e.path) for e in exchanges]
    for exchange in exchanges:
        assert_replays(server, exchange)
    assert base64.b64decode(fetched.content) == base64.b64decode(blob["content"])


def test_replay_reversed_comment_pages(server: GitHubServer) -> None:
    """``per_page=4`` and ``.reversed``: PyGithub's requests, and the comments newest first."""
    exchanges = recording("PaginatedList.testCustomPerPageReversedIterationSinglePage.txt")
    issue, comments = exchanges[1].response, exchanges[2].response
    server.add_repo("PyGithub/PyGithub", owner_type="Organization")
    server.add_issue("PyGithub/PyGithub", number=3372, title=issue["title"], author=issue["user"]["login"])
    for c in comments:
        server.add_comment("PyGithub/PyGithub", 3372, c["body"], author=c["user"]["login"])
    gh = client(server, per_page=4)
    seen = list(gh.get_repo("PyGithub/PyGithub").get_issue(3372).get_comments().reversed)
    assert [(r.method, r.path, tuple(sorted(r.query.items()))) for r in server.requests] == [
        (e.verb, e.path, e.query) for e in exchanges
    ]
    for exchange in exchanges:
        assert_replays(server, exchange)
    assert [c.body for c in seen] == [c["body"] for c in reversed(comments)]


def test_replay_create_issue_comment(server: GitHubServer) -> None:
    recorded = recording("PullRequest.testCreateIssueComment.txt")[0]
    server.open_pull_request("PyGithub/PyGithub", base_files={"a": "1"}, head_changes={"a": "2"}, number=31)
    comment = (
        client(server)
        .get_repo("PyGithub/PyGithub")
        .get_pull(31)
        .create_issue_comment(recorded.request_body["body"])
    )
    ours = assert_replays(server, recorded)
    assert ours.response_headers["Location"] == comment.url
    assert [(c.body, c.user) for c in server.comments("PyGithub/PyGithub", 31)] == [
        ("Issue comment created by PyGithub", ACTIONS_BOT_LOGIN)
    ]


@pytest.fixture
def issue_28_comment(server: GitHubServer) -> github.IssueComment.IssueComment:
    """IssueComment.setUp: ``repo.get_issue(28).get_comment(id)``, on a plain issue."""
    recorded_issue, recorded_comment = (e.response for e in recording("IssueComment.setUp.txt")[1:])
    server.add_repo("PyGithub/PyGithub", owner_type="Organization")
    server.add_issue("PyGithub/PyGithub", number=28, title=recorded_issue["title"], author="jacquev6")
    seeded = server.add_comment("PyGithub/PyGithub", 28, recorded_comment["body"], author="stuglaser")
    return client(server).get_repo("PyGithub/PyGithub").get_issue(28).get_comment(seeded.id)


def test_replay_get_issue_and_comment(server: GitHubServer, issue_28_comment: Any) -> None:
    get_repo, get_issue, get_comment = recording("IssueComment.setUp.txt")
    assert_replays(server, get_repo, expected_missing=ADMIN_ONLY)
    assert_replays(server, get_issue)
    assert_replays(server, get_comment)
    assert (issue_28_comment.user.login, issue_28_comment.body) == ("stuglaser", get_comment.response["body"])


def test_replay_edit_comment(server: GitHubServer, issue_28_comment: Any) -> None:
    recorded = recording("IssueComment.testEdit.txt")[0]
    issue_28_comment.edit(recorded.request_body["body"])
    assert_replays(server, recorded)
    assert server.comment("PyGithub/PyGithub", issue_28_comment.id).body == "Comment edited by PyGithub"


def test_replay_create_reaction(server: GitHubServer, issue_28_comment: Any) -> None:
    recorded = recording("IssueComment.testCreateReaction.txt")[0]
    issue_28_comment.create_reaction("hooray")
    assert_replays(server, recorded)
    reactions = server.reactions("PyGithub/PyGithub", issue_28_comment.id)
    assert [(r.content, r.user) for r in reactions] == [("hooray", ACTIONS_BOT_LOGIN)]


def test_replay_get_commit_then_create_status(server: GitHubServer) -> None:
    """Commit.setUp (GET /user, repo, commit?page=1) then create_status with every parameter."""
    setup = recording("Commit.setUp.txt")
    recorded_status = recording("Commit.testCreateStatusWithAllParameters.txt")[0]
    sha = setup[2].path.rsplit("/", 1)[1]
    server.add_token("ghp_jacquev6", "jacquev6")
    server.add_repo("PyGithub/PyGithub", owner_type="Organization")
    server.add_repo("jacquev6/PyGithub", fork_of="PyGithub/PyGithub")  # GitHub answers with parent/source
    server.add_commit("jacquev6/PyGithub", {"setup.py": "1\n"})
    server.add_commit("jacquev6/PyGithub", changes={"setup.py": "2\n"}, sha=sha)
    commit = client(server, "ghp_jacquev6").get_user().get_repo("PyGithub").get_commit(sha)
    assert commit.sha == sha
    commit.create_status(**recorded_status.request_body)
    for exchange in setup:
        assert_replays(server, exchange)
    assert_replays(server, recorded_status)
    [status] = server.statuses("jacquev6/PyGithub", sha)
    assert (status.state, status.context, status.creator) == ("success", "default", "jacquev6")


def test_replay_combined_status(server: GitHubServer) -> None:
    recorded = recording("CommitCombinedStatus.setUp.txt")[0]
    sha = recorded.path.split("/")[-2]
    server.add_repo("edx/edx-platform", owner_type="Organization")
    server.add_commit("edx/edx-platform", {"README": "x"}, sha=sha)
    commit = client(server).get_repo("edx/edx-platform").get_commit(sha)
    for posted in recorded.response["statuses"]:
        commit.create_status(posted["state"], posted["target_url"], posted["description"], posted["context"])
    combined = commit.get_combined_status()
    assert_replays(server, recorded)
    assert (combined.state, combined.total_count) == (
        recorded.response["state"],
        recorded.response["total_count"],
    )


def _check_run_arguments(body: dict[str, Any]) -> dict[str, Any]:
    """The recorded JSON back into create_check_run() arguments (PyGithub takes datetimes)."""
    return {k: as_datetime(v) if k.endswith("_at") else v for k, v in body.items()}


def test_replay_create_completed_check_run(server: GitHubServer) -> None:
    recorded = recording("CheckRun.testCreateCheckRunCompleted.txt")[0]
    server.add_repo("dhruvmanila/pygithub-testing")
    server.add_commit(
        "dhruvmanila/pygithub-testing", {"README.md": "banaas\n"}, sha=recorded.request_body["head_sha"]
    )
    repo = client(server).get_repo("dhruvmanila/pygithub-testing")
    run = repo.create_check_run(**_check_run_arguments(recorded.request_body))
    assert_replays(server, recorded)
    assert (run.status, run.conclusion, run.output.annotations_count) == ("completed", "success", 2)
    [stored] = server.check_runs("dhruvmanila/pygithub-testing")
    assert [a["message"] for a in stored.annotations] == [
        "Check your spelling for 'banaas'.",
        "Check your spelling for 'aples'",
    ]


def test_replay_create_then_complete_check_run(server: GitHubServer) -> None:
    create, update = recording("CheckRun.testCreateCheckRunInProgress.txt")
    server.add_repo("dhruvmanila/pygithub-testing")
    server.add_commit(
        "dhruvmanila/pygithub-testing", {"README.md": "x\n"}, sha=create.request_body["head_sha"]
    )
    run = (
        client(server)
        .get_repo("dhruvmanila/pygithub-testing")
        .create_check_run(**_check_run_arguments(create.request_body))
    )
    assert run.status == "in_progress"
    run.edit(**update.request_body)
    assert_replays(server, create)
    assert_replays(server, update)
    [stored] = server.check_runs("dhruvmanila/pygithub-testing", name="basic_check_run")
    assert (stored.status, stored.conclusion, stored.output_summary) == (
        "completed",
        "success",
        "Test summary",
    )


def test_replay_collaborator_permission(server: GitHubServer) -> None:
    recorded = recording("Repository.testCollaboratorPermission.txt")[0]
    server.add_repo("PyGithub/PyGithub", owner_type="Organization")
    server.set_permission("PyGithub/PyGithub", "jacquev6", "admin")
    permission = client(server).get_repo("PyGithub/PyGithub").get_collaborator_permission("jacquev6")
    assert_replays(server, recorded)
    assert permission == recorded.response["permission"]


def test_replay_collaborator_permission_without_push_access(server: GitHubServer) -> None:
    """A caller without push access is refused (so /rerun needs a fallback: RUNTIME.md §8)."""
    recorded = recording("Repository.testCollaboratorPermissionNoPushAccess.txt")[0]
    server.add_repo("PyGithub/PyGithub", owner_type="Organization")
    server.add_token("ghp_reader", "reader")
    server.set_permission("PyGithub/PyGithub", "reader", "read")
    server.set_permission("PyGithub/PyGithub", "lyloa", "write")
    with pytest.raises(GithubException) as refused:
        client(server, "ghp_reader").get_repo("PyGithub/PyGithub").get_collaborator_permission("lyloa")
    assert_replays(server, recorded)
    assert (refused.value.status, refused.value.data["message"]) == (403, recorded.response["message"])


def test_replay_rate_limit(server: GitHubServer) -> None:
    recorded = recording("RateLimiting.testGetRateLimit.txt")[0]
    overview = client(server).get_rate_limit()
    assert_replays(server, recorded)
    assert (overview.resources.core.limit, overview.resources.core.remaining) == (1000, 1000)


def test_replay_unknown_repository(server: GitHubServer) -> None:
    get_user, get_repo = recording("Exceptions.testUnknownObject.txt")
    server.add_token("ghp_jacquev6", "jacquev6")
    with pytest.raises(github.UnknownObjectException):
        client(server, "ghp_jacquev6").get_user().get_repo("Xxx")
    assert [(r.method, r.path, r.status) for r in server.requests] == [
        (e.verb, e.path, e.status) for e in (get_user, get_repo)
    ]
    assert server.requests[1].response["message"] == get_repo.response["message"]


def test_replay_api_version_header(server: GitHubServer) -> None:
    server.add_repo("PyGithub/PyGithub")
    response = raw(server, "GET", "/repos/PyGithub/PyGithub", headers={"X-GitHub-Api-Version": "2026-03-10"})
    recorded = {
        e.response_headers["x-github-api-version-selected"] for e in recording("Requester.testApiVersion.txt")
    }
    assert recorded == {response.headers["x-github-api-version-selected"]}


# ---------------------------------------------------------------------------------------
# the contract itself
# ---------------------------------------------------------------------------------------
# GitHub's own examples that its current schema rejects: the examples are older than the
# fields the schema now requires. The server's templates patch exactly these.
STALE_EXAMPLES = {
    ("GET /repos/{owner}/{repo}", 200, "default-response"): {
        "(root): 'language' is a required property",
        "source: 'language' is a required property",
    },
    ("GET /repos/{owner}/{repo}/pulls/{pull_number}", 200, "default"): {
        "requested_teams/0: 'type' is a required property",
    },
    (
        "GET /repos/{owner}/{repo}/collaborators/{username}/permission",
        200,
        "response-if-user-has-admin-permissions",
    ): {
        "user: 'role_name' is a required property",
    },
}


def _examples() -> Iterator[tuple[str, int, str]]:
    for key, operation in load_contract().operations.items():
        for status in (int(s) for s in operation.spec["responses"]):
            for name in operation.example_names(status):
                yield key, status, name


@pytest.mark.parametrize(("key", "status", "name"), list(_examples()))
def test_every_documented_example_validates_against_its_own_schema(key: str, status: int, name: str) -> None:
    """Sanity of the OpenAPI-to-JSON-Schema conversion: GitHub's examples pass, bar known stale ones."""
    contract = load_contract()
    operation = contract.operation(key)
    found = contract.response_problems(operation, status, operation.example(status, name))
    assert {p.render() for p in found} == STALE_EXAMPLES.get((key, status, name), set())


def test_nullable_becomes_a_null_type_and_enum_member() -> None:
    schema = to_json_schema(
        {"type": "string", "enum": ["a", "b"], "nullable": True, "example": "a", "x-foo": 1}
    )
    assert schema == {"type": ["string", "null"], "enum": ["a", "b", None]}
    jsonschema.Draft7Validator(schema).validate(None)
    wrapped = to_json_schema({"properties": {"x": {"type": "integer"}}, "nullable": True})
    assert wrapped == {"anyOf": [{"properties": {"x": {"type": "integer"}}}, {"type": "null"}]}


def test_the_subset_is_parsed_once_and_validators_compiled_once() -> None:
    """Servers are started per test; they must share one parsed spec and one set of validators."""
    first, second = GitHubServer(), GitHubServer()
    assert first.contract is second.contract is load_contract()
    operation = first.contract.operation("PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}")
    schema = operation.request_schema()
    assert first.contract.validator_for((operation.key, "request"), schema) is second.contract.validator_for(
        (operation.key, "request"), schema
    )


def test_limits_outside_the_spec_match_the_curated_evidence() -> None:
    """The 65536/140/255 limits are not in GitHub's schema; they come from the subset's ``limits``."""
    external = {
        (item["operation"], item["field"]): item["limit"] for item in load_contract().limits["external"]
    }
    comments = (
        "POST /repos/{owner}/{repo}/issues/{issue_number}/comments; "
        "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}"
    )
    assert external[(comments, "body")] == f"{COMMENT_BODY_LIMIT} characters"
    assert (
        external[("POST /repos/{owner}/{repo}/statuses/{sha}", "description")]
        == f"{STATUS_DESCRIPTION_LIMIT} characters"
    )
    assert (
        external[("POST /repos/{owner}/{repo}/statuses/{sha}", "context")]
        == f"{STATUS_CONTEXT_LIMIT} characters"
    )


def test_starting_a_server_is_cheap() -> None:
    load_contract()
    started = time.perf_counter()
    for _ in range(20):
        with GitHubServer() as running:
            assert raw(running, "GET", "/rate_limit").status_code == 200
    assert time.perf_counter() - started < 2.0


# ---------------------------------------------------------------------------------------
# the pull request as a user sees it
# ---------------------------------------------------------------------------------------
def test_pull_request_shows_head_base_and_changed_files(server: GitHubServer, pr: int) -> None:
    pull = client(server).get_repo(REPO).get_pull(pr)
    assert pull.head.repo.full_name == REPO and pull.head.ref == "feature"
    assert server.store.commits[pull.head.sha].parents == (pull.base.sha,)
    [changed] = pull.get_files()
    assert (changed.filename, changed.status) == ("prompts/support.md.j2", "modified")
    assert changed.patch == "@@ -1 +1 @@\n-Answer {{ q }}\n+Answer {{ q }} politely"
    assert (pull.changed_files, pull.additions, pull.deletions, pull.commits) == (1, 1, 1, 1)


def test_file_contents_differ_between_base_and_head(server: GitHubServer, pr: int) -> None:
    repo = client(server).get_repo(REPO)
    pull = repo.get_pull(pr)
    read = {
        ref: repo.get_contents("prompts/support.md.j2", ref=ref).decoded_content
        for ref in ("main", pull.head.sha)
    }
    assert read == {"main": b"Answer {{ q }}\n", pull.head.sha: b"Answer {{ q }} politely\n"}
    tree = repo.get_git_tree(pull.head.sha, recursive=True)
    blobs = {e.path: e.sha for e in tree.tree if e.type == "blob"}
    assert set(blobs) == {"evals/support.yaml", "prompts/support.md.j2"}
    assert base64.b64decode(repo.get_git_blob(blobs["evals/support.yaml"]).content) == b"- vars: {q: hi}\n"


def test_missing_file_and_unknown_ref_answer_404(server: GitHubServer, pr: int) -> None:
    repo = client(server).get_repo(REPO)
    with pytest.raises(github.UnknownObjectException):
        repo.get_contents("prompts/missing.txt")
    with pytest.raises(GithubException) as unknown_ref:
        repo.get_contents("prompts/support.md.j2", ref="no-such-branch")
    assert (unknown_ref.value.status, unknown_ref.value.data["message"]) == (
        404,
        "No commit found for the ref no-such-branch",
    )


def test_a_moved_file_is_reported_as_renamed(server: GitHubServer) -> None:
    pull = server.open_pull_request(
        REPO, base_files={"prompts/a.txt": "same text\n"}, head_files={"prompts/b.txt": "same text\n"}
    )
    [renamed] = client(server).get_repo(REPO).get_pull(pull.number).get_files()
    assert (renamed.status, renamed.filename, renamed.previous_filename) == (
        "renamed",
        "prompts/b.txt",
        "prompts/a.txt",
    )


def test_compare_reports_diverged_history(server: GitHubServer) -> None:
    server.add_repo(REPO)
    root = server.add_commit(REPO, {"a.txt": "1\n"})
    server.add_commit(REPO, changes={"main.txt": "m\n"})
    server.add_commit(REPO, changes={"topic.txt": "t\n"}, branch="topic", parents=[root])
    comparison = client(server).get_repo(REPO).compare("main", "topic")
    assert (comparison.status, comparison.ahead_by, comparison.behind_by) == ("diverged", 1, 1)
    assert comparison.merge_base_commit.sha == root
    assert [f.filename for f in comparison.files] == ["topic.txt"]


def test_fork_pull_request_names_the_fork_as_head(server: GitHubServer) -> None:
    pull = server.open_pull_request(
        REPO, base_files={"p.txt": "a\n"}, head_changes={"p.txt": "b\n"}, head_repo="mallory/prompts"
    )
    fetched = client(server, FORK_TOKEN).get_repo(REPO).get_pull(pull.number)
    assert (fetched.head.repo.full_name, fetched.head.repo.fork, fetched.head.label) == (
        "mallory/prompts",
        True,
        "mallory:feature",
    )
    assert fetched.base.repo.full_name == REPO


def test_a_new_push_moves_the_head_and_keeps_old_statuses(server: GitHubServer, pr: int) -> None:
    """``synchronize``: the PR's head sha changes; what was posted on the old sha stays there."""
    repo = client(server).get_repo(REPO)
    old_head = repo.get_pull(pr).head.sha
    repo.get_commit(old_head).create_status("pending", context="promptreview")
    new_head = server.push_to_pull(REPO, pr, changes={"prompts/support.md.j2": "Answer {{ q }} kindly\n"})
    pull = repo.get_pull(pr)
    assert pull.head.sha == new_head != old_head
    assert pull.commits == 2
    assert [s.state for s in server.statuses(REPO, old_head)] == ["pending"]
    assert server.statuses(REPO, new_head) == []


# ---------------------------------------------------------------------------------------
# comments and reactions
# ---------------------------------------------------------------------------------------
def test_sticky_comment_is_edited_in_place() -> None:
    ticks = iter(datetime(2026, 1, 1, 12, 0, s, tzinfo=UTC) for s in range(60))
    with running_github_server(clock=lambda: next(ticks)) as server:
        server.open_pull_request(REPO, base_files={"a": "1"}, head_changes={"a": "2"}, number=7)
        pull = client(server).get_repo(REPO).get_pull(7)
        posted = pull.create_issue_comment("<!-- promptreview -->\nrunning")
        posted.edit("<!-- promptreview -->\n**pass**")
        [comment] = server.comments(REPO, 7)
    assert (comment.body, comment.user, comment.user_type) == (
        "<!-- promptreview -->\n**pass**",
        ACTIONS_BOT_LOGIN,
        "Bot",
    )
    assert comment.updated_at > comment.created_at


def test_listing_walks_every_page_through_link_headers(server: GitHubServer, pr: int) -> None:
    for n in range(65):
        server.add_comment(REPO, pr, f"comment {n}", author=f"user{n % 3}")
    bodies = [c.body for c in client(server).get_repo(REPO).get_pull(pr).get_issue_comments()]
    assert bodies == [f"comment {n}" for n in range(65)]
    pages = [r for r in server.requests if r.path.endswith(f"/issues/{pr}/comments")]
    assert [r.path.split("/")[1] for r in pages] == ["repos", "repositories", "repositories"]


def test_link_header_and_per_page_cap(server: GitHubServer, pr: int) -> None:
    for n in range(250):
        server.add_comment(REPO, pr, f"c{n}")
    repo_id = server.repo(REPO).id
    first = raw(server, "GET", f"/repos/{REPO}/issues/{pr}/comments", params={"per_page": 500})
    assert len(first.json()) == 100
    assert first.headers["Link"] == (
        f'<{server.url}/repositories/{repo_id}/issues/{pr}/comments?per_page=500&page=2>; rel="next", '
        f'<{server.url}/repositories/{repo_id}/issues/{pr}/comments?per_page=500&page=3>; rel="last"'
    )
    last = raw(
        server, "GET", f"/repositories/{repo_id}/issues/{pr}/comments", params={"per_page": 500, "page": 3}
    )
    assert [c["body"] for c in last.json()] == [f"c{n}" for n in range(200, 250)]
    assert 'rel="prev"' in last.headers["Link"] and 'rel="next"' not in last.headers["Link"]


def test_default_page_is_thirty(server: GitHubServer, pr: int) -> None:
    for n in range(31):
        server.add_comment(REPO, pr, f"c{n}")
    assert len(raw(server, "GET", f"/repos/{REPO}/issues/{pr}/comments").json()) == 30


def test_reacting_twice_keeps_one_reaction(server: GitHubServer, pr: int) -> None:
    """GitHub answers 201 for a new reaction and 200 with the same one when it already exists."""
    comment = server.add_comment(REPO, pr, "/rerun", author="maintainer")
    path = f"/repos/{REPO}/issues/comments/{comment.id}/reactions"
    first = raw(server, "POST", path, json={"content": "eyes"})
    again = raw(server, "POST", path, json={"content": "eyes"})
    rocket = raw(server, "POST", path, json={"content": "rocket"}, token=USER_TOKEN)
    assert (first.status_code, again.status_code, rocket.status_code) == (201, 200, 201)
    assert first.json()["id"] == again.json()["id"]
    seen = [(r.content, r.user, r.user_type) for r in server.reactions(REPO, comment.id)]
    assert seen == [("eyes", ACTIONS_BOT_LOGIN, "Bot"), ("rocket", "octocat", "User")]
    listed = client(server).get_repo(REPO).get_issue(pr).get_comment(comment.id)
    assert (listed.reactions["eyes"], listed.reactions["rocket"], listed.reactions["total_count"]) == (
        1,
        1,
        2,
    )


def test_unknown_reaction_is_an_invalid_request(server: GitHubServer, pr: int) -> None:
    comment = server.add_comment(REPO, pr, "/rerun")
    answer = raw(
        server, "POST", f"/repos/{REPO}/issues/comments/{comment.id}/reactions", json={"content": "tada"}
    )
    assert answer.status_code == 422
    assert answer.json()["message"].startswith(
        "Invalid request.\n\nFor 'properties/content', 'tada' is not one of"
    )
    assert server.reactions(REPO, comment.id) == []
    assert [v.kind for v in server.take_contract_violations()] == ["request"]


def test_comment_body_limit_is_githubs_65536_characters(server: GitHubServer, pr: int) -> None:
    pull = client(server).get_repo(REPO).get_pull(pr)
    pull.create_issue_comment("x" * 65536)
    with pytest.raises(GithubException) as too_long:
        pull.create_issue_comment("x" * 65537)
    assert too_long.value.status == 422
    assert json.dumps(too_long.value.data, separators=(",", ":")) == (
        '{"message":"Validation Failed","errors":[{"resource":"IssueComment","code":"unprocessable",'
        '"field":"data","message":"Body is too long (maximum is 65536 characters)"}],'
        '"documentation_url":"https://docs.github.com/rest/issues/comments#create-an-issue-comment"}'
    )
    assert [len(c.body) for c in server.comments(REPO, pr)] == [65536]
    assert [v.kind for v in server.take_contract_violations()] == ["limit"]


def test_comment_limit_is_configurable_and_applies_to_edits() -> None:
    with running_github_server(comment_body_limit=10) as small:
        small.open_pull_request(REPO, base_files={"a": "1"}, head_changes={"a": "2"}, number=1)
        comment = client(small).get_repo(REPO).get_pull(1).create_issue_comment("short")
        with pytest.raises(GithubException) as too_long:
            comment.edit("longer than ten")
        assert too_long.value.data["errors"][0]["message"] == "Body is too long (maximum is 10 characters)"
        assert small.comment(REPO, comment.id).body == "short"
        small.take_contract_violations()


def test_comments_on_a_plain_issue(server: GitHubServer) -> None:
    server.add_repo(REPO)
    issue = server.add_issue(REPO, title="Docs typo")
    server.add_comment(REPO, issue.number, "/rerun")
    fetched = client(server).get_repo(REPO).get_issue(issue.number)
    assert fetched.pull_request is None
    assert [c.body for c in fetched.get_comments()] == ["/rerun"]


def test_comments_are_created_safely_from_many_threads(server: GitHubServer, pr: int) -> None:
    def post(n: int) -> None:
        raw(server, "POST", f"/repos/{REPO}/issues/{pr}/comments", json={"body": f"from thread {n}"})

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    comments = server.comments(REPO, pr)
    assert sorted(c.body for c in comments) == sorted(f"from thread {n}" for n in range(8))
    assert len({c.id for c in comments}) == 8


# ---------------------------------------------------------------------------------------
# commit statuses and check runs
# ---------------------------------------------------------------------------------------
def test_statuses_are_kept_in_order_and_combined(server: GitHubServer, pr: int) -> None:
    repo = client(server).get_repo(REPO)
    commit = repo.get_commit(repo.get_pull(pr).head.sha)
    commit.create_status("pending", description="Reviewing 3 suites", context="promptreview")
    commit.create_status("success", description="ci ok", context="ci")
    assert commit.get_combined_status().state == "pending"
    commit.create_status(
        "failure",
        target_url="https://example.test/run/1",
        description="2 regressions",
        context="promptreview",
    )
    combined = commit.get_combined_status()
    assert (combined.state, combined.total_count) == ("failure", 2)
    posted = server.statuses(REPO, commit.sha)
    assert [(s.context, s.state, s.description) for s in posted] == [
        ("promptreview", "pending", "Reviewing 3 suites"),
        ("ci", "success", "ci ok"),
        ("promptreview", "failure", "2 regressions"),
    ]
    assert {s.creator for s in posted} == {ACTIONS_BOT_LOGIN}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("description", "d" * 141, "description is too long (maximum is 140 characters)"),
        ("context", "c" * 256, "context is too long (maximum is 255 characters)"),
    ],
)
def test_status_description_and_context_limits(
    server: GitHubServer, pr: int, field: str, value: str, message: str
) -> None:
    sha = server.pull(REPO, pr).head_sha
    answer = raw(server, "POST", f"/repos/{REPO}/statuses/{sha}", json={"state": "success", field: value})
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"resource": "Status", "code": "custom", "field": field, "message": message}
    ]
    assert server.statuses(REPO, sha) == []
    assert raw(
        server, "POST", f"/repos/{REPO}/statuses/{sha}", json={"state": "success", field: value[:-1]}
    ).ok
    assert [v.kind for v in server.take_contract_violations()] == ["limit"]


def test_status_on_an_unknown_sha_is_refused(server: GitHubServer, pr: int) -> None:
    answer = raw(server, "POST", f"/repos/{REPO}/statuses/{'f' * 40}", json={"state": "success"})
    assert (answer.status_code, answer.json()["message"]) == (422, f"No commit found for SHA: {'f' * 40}")


def test_check_run_annotations_append_across_updates(server: GitHubServer, pr: int) -> None:
    repo = client(server).get_repo(REPO)
    head = repo.get_pull(pr).head.sha
    run = repo.create_check_run(
        "promptreview", head, status="in_progress", output={"title": "Running", "summary": "..."}
    )

    def annotations(first: int, count: int) -> list[dict[str, Any]]:
        return [
            {
                "path": "evals/support.yaml",
                "start_line": n,
                "end_line": n,
                "annotation_level": "warning",
                "message": f"case {n}",
            }
            for n in range(first, first + count)
        ]

    run.edit(output={"title": "2 regressions", "summary": "fail", "annotations": annotations(1, 50)})
    run.edit(
        conclusion="failure",
        output={
            "title": "2 regressions",
            "summary": "fail",
            "text": "details",
            "annotations": annotations(51, 5),
        },
    )
    [stored] = server.check_runs(REPO, head_sha=head)
    assert (stored.status, stored.conclusion, stored.output_title, stored.output_text) == (
        "completed",
        "failure",
        "2 regressions",
        "details",
    )
    assert [a["message"] for a in stored.annotations] == [f"case {n}" for n in range(1, 56)]
    assert stored.completed_at is not None
    fetched = repo.get_check_run(run.id)
    assert (fetched.output.annotations_count, fetched.app.slug) == (55, "github-actions")
    assert [p.number for p in fetched.pull_requests] == [pr]


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ({"title": "t", "summary": "s" * 65536}, "is too long"),
        ({"title": "t", "summary": "s", "text": "t" * 65536}, "is too long"),
        (
            {
                "title": "t",
                "summary": "s",
                "annotations": [
                    {
                        "path": "a",
                        "start_line": 1,
                        "end_line": 1,
                        "annotation_level": "notice",
                        "message": "m",
                    }
                ]
                * 51,
            },
            "is too long",
        ),
    ],
    ids=["summary-65536", "text-65536", "51-annotations"],
)
def test_check_run_output_limits(server: GitHubServer, pr: int, output: dict[str, Any], reason: str) -> None:
    head = server.pull(REPO, pr).head_sha
    answer = raw(
        server,
        "POST",
        f"/repos/{REPO}/check-runs",
        json={"name": "promptreview", "head_sha": head, "output": output},
    )
    assert answer.status_code == 422 and reason in answer.json()["message"]
    assert server.check_runs(REPO) == []
    assert [v.kind for v in server.take_contract_violations()] == ["request"]


def test_completed_check_run_needs_a_conclusion(server: GitHubServer, pr: int) -> None:
    head = server.pull(REPO, pr).head_sha
    answer = raw(
        server,
        "POST",
        f"/repos/{REPO}/check-runs",
        json={"name": "x", "head_sha": head, "status": "completed"},
    )
    assert answer.status_code == 422
    assert '"conclusion" wasn\'t supplied.' in answer.json()["message"]
    server.take_contract_violations()


def test_check_runs_need_a_github_app_token(server: GitHubServer, pr: int) -> None:
    """A PAT cannot use the Checks API (actions/github-script#118); GITHUB_TOKEN can."""
    repo = client(server, USER_TOKEN).get_repo(REPO)
    with pytest.raises(GithubException) as refused:
        repo.create_check_run("promptreview", repo.get_pull(pr).head.sha)
    assert (refused.value.status, refused.value.data["message"]) == (
        403,
        "You must authenticate via a GitHub App.",
    )
    assert server.check_runs(REPO) == []


# ---------------------------------------------------------------------------------------
# who may do what
# ---------------------------------------------------------------------------------------
def test_fork_token_can_read_but_every_write_is_refused(server: GitHubServer, pr: int) -> None:
    comment = server.add_comment(REPO, pr, "earlier report")
    sha = server.pull(REPO, pr).head_sha
    repo = client(server, FORK_TOKEN).get_repo(REPO)
    assert repo.get_pull(pr).head.sha == sha
    writes = [
        ("POST", f"/repos/{REPO}/issues/{pr}/comments", {"body": "report"}),
        ("PATCH", f"/repos/{REPO}/issues/comments/{comment.id}", {"body": "report"}),
        ("POST", f"/repos/{REPO}/issues/comments/{comment.id}/reactions", {"content": "eyes"}),
        ("POST", f"/repos/{REPO}/statuses/{sha}", {"state": "success"}),
        ("POST", f"/repos/{REPO}/check-runs", {"name": "promptreview", "head_sha": sha}),
    ]
    answers = [raw(server, method, path, token=FORK_TOKEN, json=body) for method, path, body in writes]
    assert {(a.status_code, a.json()["message"]) for a in answers} == {
        (403, "Resource not accessible by integration")
    }
    assert answers[3].headers["x-accepted-github-permissions"] == "statuses=write"
    assert [c.body for c in server.comments(REPO, pr)] == ["earlier report"]
    assert (server.reactions(REPO, comment.id), server.statuses(REPO, sha), server.check_runs(REPO)) == (
        [],
        [],
        [],
    )


def test_deleted_fork_is_tolerated_by_the_contract(server: GitHubServer) -> None:
    server.add_repo(REPO)
    pull = server.add_pull(REPO, head_sha="a" * 40, head_repo=None)
    fetched = client(server).get_repo(REPO).get_pull(pull.number)
    assert (fetched.head.repo, fetched.head.user, fetched.head.label, fetched.head.sha) == (
        None,
        None,
        None,
        "a" * 40,
    )


def test_missing_and_unknown_tokens_get_401(server: GitHubServer) -> None:
    server.add_repo(REPO)
    missing = raw(server, "GET", f"/repos/{REPO}", token=None)
    assert (missing.status_code, missing.json()["message"]) == (401, "Requires authentication")
    with pytest.raises(github.BadCredentialsException):
        client(server, "ghp_revoked").get_repo(REPO)
    bearer = raw(
        server, "GET", f"/repos/{REPO}", headers={"Authorization": f"Bearer {ACTIONS_TOKEN}"}, token=None
    )
    assert bearer.status_code == 200


def test_installation_token_cannot_read_its_own_user(server: GitHubServer) -> None:
    """GET /user is not enabled for GitHub Apps: GITHUB_TOKEN gets 403, a PAT gets the user."""
    with pytest.raises(GithubException) as refused:
        _ = client(server).get_user().login
    assert (refused.value.status, refused.value.data["message"]) == (
        403,
        "Resource not accessible by integration",
    )
    assert client(server, USER_TOKEN).get_user().login == "octocat"


@pytest.mark.parametrize(
    ("role", "permission"),
    [
        ("admin", "admin"),
        ("maintain", "write"),
        ("write", "write"),
        ("triage", "read"),
        ("read", "read"),
        ("none", "none"),
    ],
)
def test_collaborator_permission_levels(server: GitHubServer, role: Any, permission: str) -> None:
    server.add_repo(REPO)
    server.set_permission(REPO, "carol", role)
    answer = raw(server, "GET", f"/repos/{REPO}/collaborators/carol/permission").json()
    assert (answer["permission"], answer["role_name"], answer["user"]["login"]) == (permission, role, "carol")


def test_permission_of_an_unknown_user_is_404(server: GitHubServer) -> None:
    server.add_repo(REPO)
    with pytest.raises(github.UnknownObjectException):
        client(server).get_repo(REPO).get_collaborator_permission("nobody-at-all")


def test_private_repository_is_hidden_from_outsiders(server: GitHubServer) -> None:
    server.add_repo("acme/secret", private=True)
    server.add_token("ghp_outsider", "outsider")
    assert raw(server, "GET", "/repos/acme/secret", token="ghp_outsider").status_code == 404
    server.set_permission("acme/secret", "outsider", "read")
    assert (
        raw(server, "GET", "/repos/acme/secret", token="ghp_outsider").json()["permissions"]["pull"] is True
    )


# ---------------------------------------------------------------------------------------
# faults
# ---------------------------------------------------------------------------------------
def test_secondary_rate_limit_then_pygithub_retries_once(server: GitHubServer, pr: int) -> None:
    """With its default retry policy PyGithub waits ``retry-after`` and tries again: one comment."""
    fault = server.inject_secondary_rate_limit("POST", r"/issues/\d+/comments$", retry_after=0)
    client(server, retry=github.GithubRetry()).get_repo(REPO).get_pull(pr).create_issue_comment("report")
    posts = [r for r in server.requests if r.method == "POST"]
    assert [(r.status, r.injected) for r in posts] == [(403, True), (201, False)]
    assert posts[0].response["message"] == (
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
    )
    assert posts[0].response_headers["retry-after"] == "0"
    assert fault.hits == 1
    assert [c.body for c in server.comments(REPO, pr)] == ["report"]


@pytest.mark.parametrize("status", [403, 429])
def test_primary_rate_limit(server: GitHubServer, pr: int, status: Any) -> None:
    server.inject_primary_rate_limit("GET", r"/pulls/\d+$", status=status, reset_in=30)
    answer = raw(server, "GET", f"/repos/{REPO}/pulls/{pr}")
    assert answer.status_code == status
    assert answer.json()["message"].startswith("API rate limit exceeded")
    assert answer.headers["x-ratelimit-remaining"] == "0"
    assert int(answer.headers["x-ratelimit-reset"]) >= int(time.time()) + 29
    assert raw(server, "GET", f"/repos/{REPO}/pulls/{pr}").status_code == 200  # times=1


def test_pygithub_reports_a_spent_quota_as_rate_limit_exceeded(server: GitHubServer, pr: int) -> None:
    server.inject_primary_rate_limit(times=None)
    with pytest.raises(github.RateLimitExceededException):
        client(server).get_repo(REPO)


def test_spending_the_whole_quota_gets_githubs_403(server: GitHubServer, pr: int) -> None:
    server.add_token("ghs_small", ACTIONS_BOT_LOGIN, limit=2)
    answers = [raw(server, "GET", f"/repos/{REPO}", token="ghs_small") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 403]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["1", "0", "0"]
    assert answers[2].json()["message"] == "API rate limit exceeded for installation ID 1."
    assert raw(server, "GET", "/rate_limit", token="ghs_small").json()["rate"]["remaining"] == 0


def test_server_error_on_comment_create_changes_nothing(server: GitHubServer, pr: int) -> None:
    server.inject_comment_create_error(502)
    pull = client(server).get_repo(REPO).get_pull(pr)
    with pytest.raises(GithubException) as failed:
        pull.create_issue_comment("report")
    assert failed.value.status == 502
    assert server.comments(REPO, pr) == []
    pull.create_issue_comment("report")
    assert [c.body for c in server.comments(REPO, pr)] == ["report"]


def test_applied_fault_is_how_duplicate_comments_happen(server: GitHubServer, pr: int) -> None:
    """A 502 after GitHub created the comment: a naive retry posts it twice."""
    server.inject_comment_create_error(502, applied=True)
    pull = client(server).get_repo(REPO).get_pull(pr)
    with pytest.raises(GithubException):
        pull.create_issue_comment("report")
    pull.create_issue_comment("report")
    assert [c.body for c in server.comments(REPO, pr)] == ["report", "report"]


def test_injected_comment_too_long(server: GitHubServer, pr: int) -> None:
    server.inject_comment_too_long("PATCH")
    comment = client(server).get_repo(REPO).get_pull(pr).create_issue_comment("short")
    with pytest.raises(GithubException) as refused:
        comment.edit("also short")
    assert refused.value.data == comment_too_long_body(
        "https://docs.github.com/rest/issues/comments#update-an-issue-comment"
    )
    assert server.comment(REPO, comment.id).body == "short"


def test_faults_count_down_and_can_be_permanent(server: GitHubServer, pr: int) -> None:
    twice = server.inject("GET", r"/pulls/\d+$", 503, times=2)
    always = server.inject(
        "*", r"/statuses/", 500, {"message": "Server Error"}, {"x-custom": "1"}, times=None
    )
    sha = server.pull(REPO, pr).head_sha
    pulls = [raw(server, "GET", f"/repos/{REPO}/pulls/{pr}").status_code for _ in range(3)]
    statuses = [
        raw(server, "POST", f"/repos/{REPO}/statuses/{sha}", json={"state": "success"}) for _ in range(3)
    ]
    assert pulls == [503, 503, 200]
    assert {(a.status_code, a.headers["x-custom"]) for a in statuses} == {(500, "1")}
    assert (twice.hits, always.hits) == (2, 3)
    assert server.statuses(REPO, sha) == []
    server.clear_faults()
    assert raw(server, "POST", f"/repos/{REPO}/statuses/{sha}", json={"state": "success"}).status_code == 201


# ---------------------------------------------------------------------------------------
# the contract guard, headers, enterprise paths
# ---------------------------------------------------------------------------------------
def test_unknown_endpoint_and_bad_json_are_violations(server: GitHubServer, pr: int) -> None:
    unknown = raw(server, "DELETE", f"/repos/{REPO}/issues/comments/1")
    bad_json = raw(server, "POST", f"/repos/{REPO}/issues/{pr}/comments", data=b"{not json")
    assert (unknown.status_code, bad_json.status_code) == (404, 400)
    assert bad_json.json()["message"] == "Problems parsing JSON"
    with pytest.raises(AssertionError, match="2 GitHub API contract violation"):
        server.assert_contract_clean()
    assert [v.kind for v in server.take_contract_violations()] == ["unknown-endpoint", "bad-json"]
    server.assert_contract_clean()


def test_an_injected_answer_that_breaks_the_schema_is_caught(server: GitHubServer, pr: int) -> None:
    """Injected 2xx bodies are validated too, so a test cannot feed the client an impossible answer."""
    server.inject("GET", r"/pulls/\d+$", 200, {"number": "seven"})
    assert raw(server, "GET", f"/repos/{REPO}/pulls/{pr}").json() == {"number": "seven"}
    [violation] = server.take_contract_violations()
    assert (
        violation.kind == "response"
        and violation.operation == "GET /repos/{owner}/{repo}/pulls/{pull_number}"
    )
    assert "number: 'seven' is not of type 'integer'" in violation.problems


def test_realistic_headers_on_every_answer(server: GitHubServer, pr: int) -> None:
    first = raw(server, "GET", f"/repos/{REPO}/pulls/{pr}")
    second = raw(server, "GET", f"/repos/{REPO}/pulls/{pr}")
    assert first.headers["content-type"] == "application/json; charset=utf-8"
    assert first.headers["x-github-api-version-selected"] == "2022-11-28"
    assert (first.headers["x-ratelimit-limit"], first.headers["x-ratelimit-resource"]) == ("1000", "core")
    assert int(first.headers["x-ratelimit-remaining"]) - int(second.headers["x-ratelimit-remaining"]) == 1
    assert int(second.headers["x-ratelimit-used"]) == int(first.headers["x-ratelimit-used"]) + 1


def test_request_log_keeps_what_was_sent(server: GitHubServer, pr: int) -> None:
    client(server).get_repo(REPO).get_pull(pr).create_issue_comment("hello")
    [write] = server.writes()
    assert (write.method, write.path, write.body, write.status, write.login) == (
        "POST",
        f"/repos/{REPO}/issues/{pr}/comments",
        {"body": "hello"},
        201,
        ACTIONS_BOT_LOGIN,
    )
    assert write.operation == "POST /repos/{owner}/{repo}/issues/{issue_number}/comments"


def test_enterprise_server_path_prefix() -> None:
    with running_github_server(path_prefix="/api/v3") as ghes:
        ghes.open_pull_request(REPO, base_files={"a": "1"}, head_changes={"a": "2"}, number=3)
        for n in range(35):
            ghes.add_comment(REPO, 3, f"c{n}")
        assert ghes.url.endswith("/api/v3")
        pull = client(ghes).get_repo(REPO).get_pull(3)
        assert len(list(pull.get_issue_comments())) == 35
        assert all(r.path.startswith("/api/v3/") for r in ghes.requests)
        unprefixed = requests.get(ghes.url.removesuffix("/api/v3") + f"/repos/{REPO}", timeout=10)
        assert unprefixed.status_code == 404
        assert [v.kind for v in ghes.take_contract_violations()] == ["unknown-endpoint"]


def test_user_agent_is_required(server: GitHubServer) -> None:
    """GitHub refuses requests without a User-Agent (requests and urllib3 always send one)."""
    server.add_repo(REPO)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest("GET", f"/repos/{REPO}", skip_accept_encoding=True)
    connection.putheader("Authorization", f"token {ACTIONS_TOKEN}")
    connection.endheaders()
    answer = connection.getresponse()
    assert answer.status == 403 and "User-Agent" in json.loads(answer.read())["message"]
    connection.close()


def test_schema_errors_read_like_githubs(server: GitHubServer, pr: int) -> None:
    """An annotation without path and level: GitHub's wording from humanmade/linter-bot#71."""
    run = client(server).get_repo(REPO).create_check_run("promptreview", server.pull(REPO, pr).head_sha)
    annotation = {"start_line": 1, "end_line": 1, "message": "regressed"}
    answer = raw(
        server,
        "PATCH",
        f"/repos/{REPO}/check-runs/{run.id}",
        json={"output": {"title": "t", "summary": "s", "annotations": [annotation]}},
    )
    assert answer.status_code == 422
    assert answer.json()["message"] == 'Invalid request.\n\n"annotation_level", "path" weren\'t supplied.'
    assert server.check_runs(REPO)[0].annotations == []
    server.take_contract_violations()


def test_replay_harness_notices_a_request_pygithub_did_not_send(server: GitHubServer) -> None:
    """The replay checks are not vacuous: a different query or body is reported."""
    server.add_repo("PyGithub/PyGithub")
    client(server).get_repo("PyGithub/PyGithub")
    recorded = recording("Repository.setUp.txt")[0]
    with pytest.raises(AssertionError, match="never sent"):
        sent_like(server, Exchange(**{**recorded.__dict__, "query": (("page", "2"),)}))
    with pytest.raises(AssertionError):
        assert_replays(server, Exchange(**{**recorded.__dict__, "request_body": {"name": "x"}}))


def test_a_bug_in_the_fake_answers_500_and_fails_the_test(
    server: GitHubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's own crash must not look like a network error to the client, nor pass silently."""

    def broken(call: Any) -> Any:
        raise RuntimeError("renderer bug")

    server.add_repo(REPO)
    monkeypatch.setattr(server, "_get_repo", broken)
    answer = raw(server, "GET", f"/repos/{REPO}")
    assert (answer.status_code, answer.json()["message"]) == (500, "Server Error")
    [violation] = server.take_contract_violations()
    assert violation.kind == "server-error" and "RuntimeError: renderer bug" in violation.problems[0]
