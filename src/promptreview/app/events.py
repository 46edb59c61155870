"""The App's trigger stage: one verified webhook delivery becomes a job, a state change, or a refusal.

Pure and local: nothing here calls GitHub, so an event the server refuses (outside the
allowlist, not in the installation, a fork with forks off) costs no API call at all.

* ``pull_request`` and ``issue_comment``: the Action's own parser (``github/event.py``), so the
  rules for what is reviewed and what ``/rerun`` means are the same in both front doors;
* ``check_run.rerequested`` / ``check_suite.rerequested``: the Checks tab's Re-run buttons, which
  only an App receives, pinned to the SHA of that check and to its pull request;
* ``installation`` / ``installation_repositories``: keep the served set current (:class:`Served`);
* ``ping``: GitHub's hello when the webhook is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from promptreview.github.event import (
    Ignored,
    RecheckRequest,
    RerunCommand,
    ReviewRequest,
    Trigger,
    is_bot,
    parse_event,
)


@dataclass(frozen=True)
class Job:
    """A review to run: the trigger (JSON-able), where it came from, and which PR it is for."""

    delivery: str
    event: str
    installation_id: int
    repo: str
    pr_number: int
    trigger: dict[str, Any]
    push: bool  # a pull_request event: a new head, which supersedes older jobs for this PR
    head_sha: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Job:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    @property
    def pr_key(self) -> str:
        return f"{self.repo.lower()}#{self.pr_number}"


@dataclass(frozen=True)
class Refused:
    """Not served, by policy; ``reason`` is the log line."""

    reason: str


@dataclass(frozen=True)
class Noted:
    """Handled at once (ping, an ignored action, a change to the served set)."""

    reason: str
    served: ServedChange | None = None


@dataclass(frozen=True)
class ServedChange:
    """What an installation event says about the repositories the App may serve."""

    installation_id: int
    account: str
    selection: str  # "all" or "selected"
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    deleted: bool = False  # uninstalled or suspended: serve nothing for it


@dataclass
class Served:
    """One installation's served set, as the last installation events described it."""

    account: str
    selection: str = "selected"
    repos: set[str] = field(default_factory=set)
    active: bool = True

    def includes(self, full_name: str) -> bool:
        if not self.active:
            return False
        if self.selection == "all":
            return full_name.lower().split("/")[0] == self.account.lower()
        return full_name.lower() in self.repos

    def apply(self, change: ServedChange) -> None:
        self.account, self.selection = change.account or self.account, change.selection or self.selection
        self.active = not change.deleted
        self.repos |= {r.lower() for r in change.added}
        self.repos -= {r.lower() for r in change.removed}

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "selection": self.selection,
            "repos": sorted(self.repos),
            "active": self.active,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Served:
        return cls(
            str(data.get("account", "")),
            str(data.get("selection", "selected")),
            set(data.get("repos", [])),
            bool(data.get("active", True)),
        )


Decision = Job | Refused | Noted


def trigger_to_json(trigger: Trigger) -> dict[str, Any]:
    return {"kind": type(trigger).__name__, **asdict(trigger)}


def trigger_from_json(data: Mapping[str, Any]) -> Trigger:
    kinds = {cls.__name__: cls for cls in (ReviewRequest, RerunCommand, RecheckRequest, Ignored)}
    fields = {k: v for k, v in data.items() if k != "kind"}
    return kinds[str(data["kind"])](**fields)  # type: ignore[no-any-return]


def decide(
    event: str,
    delivery: str,
    payload: Mapping[str, Any],
    *,
    allows: Any,
    served: Mapping[int, Served],
    review_forks: bool,
) -> Decision:
    """Turn one delivery into a job, a note, or a refusal (``allows``: the allowlist's predicate)."""
    if event == "ping":
        return Noted(f"ping from hook {payload.get('hook_id')}: {payload.get('zen', '')}")
    if event in ("installation", "installation_repositories"):
        change = _installation_change(event, payload)
        if change is None:
            return Noted(f"{event} `{payload.get('action')}` changes nothing served")
        return Noted(f"{event} `{payload.get('action')}` for installation {change.installation_id}", change)
    repo = _full_name(payload.get("repository"))
    installation = (payload.get("installation") or {}).get("id")
    if repo is None or not isinstance(installation, int):
        return Noted(f"{event} without a repository or installation is not reviewed")
    if not allows(repo):
        return Refused(f"{repo} is not in PROMPTREVIEW_ALLOW")
    known = served.get(installation)
    if known is not None and not known.includes(repo):
        return Refused(
            f"{repo} is not served by installation {installation} (removed, suspended or uninstalled)"
        )
    if event in ("check_run", "check_suite"):
        trigger: Trigger = _recheck(event, payload, repo)
    else:
        trigger = parse_event(event, payload, repository=repo)
    if isinstance(trigger, Ignored):
        return Noted(trigger.reason)
    if isinstance(trigger, ReviewRequest) and trigger.is_fork and not review_forks:
        return Refused(f"{repo}#{trigger.pr_number} comes from a fork and PROMPTREVIEW_REVIEW_FORKS is off")
    head = trigger.head_sha if isinstance(trigger, ReviewRequest | RecheckRequest) else None
    return Job(
        delivery=delivery,
        event=event,
        installation_id=installation,
        repo=repo,
        pr_number=trigger.pr_number,
        trigger=trigger_to_json(trigger),
        push=isinstance(trigger, ReviewRequest),
        head_sha=head,
    )


def _recheck(event: str, payload: Mapping[str, Any], repo: str) -> Trigger:
    action = str(payload.get("action") or "")
    if action != "rerequested":
        return Ignored(f"{event} `{action}` is not a re-run request")
    checked = payload.get(event) or {}
    sender = payload.get("sender") or {}
    login = str(sender.get("login") or "")
    if not login or is_bot(login, sender.get("type")):
        return Ignored(f"a re-run requested by a bot ({login or 'unknown'}) is ignored")
    head_sha = str(checked.get("head_sha") or "")
    pulls = [p for p in checked.get("pull_requests") or [] if isinstance(p, Mapping)]
    if not head_sha or not pulls or not isinstance(pulls[0].get("number"), int):
        return Ignored(f"the {event} is not on a pull request of this repository (fork PRs are not listed)")
    return RecheckRequest(repo=repo, pr_number=int(pulls[0]["number"]), head_sha=head_sha, requester=login)


def _installation_change(event: str, payload: Mapping[str, Any]) -> ServedChange | None:
    action = str(payload.get("action") or "")
    installation = payload.get("installation") or {}
    ident = installation.get("id")
    if not isinstance(ident, int):
        return None
    account = str((installation.get("account") or {}).get("login") or "")
    selection = str(payload.get("repository_selection") or installation.get("repository_selection") or "")
    if event == "installation":
        if action in ("deleted", "suspend"):
            return ServedChange(ident, account, selection, deleted=True)
        if action in ("created", "unsuspend", "new_permissions_accepted"):
            return ServedChange(ident, account, selection, added=_names(payload.get("repositories")))
        return None
    if action not in ("added", "removed"):
        return None
    return ServedChange(
        ident,
        account,
        selection,
        added=_names(payload.get("repositories_added")),
        removed=_names(payload.get("repositories_removed")),
    )


def _names(repos: Any) -> tuple[str, ...]:
    return tuple(str(r["full_name"]) for r in repos or [] if isinstance(r, Mapping) and r.get("full_name"))


def _full_name(repo: Any) -> str | None:
    if isinstance(repo, Mapping) and isinstance(repo.get("full_name"), str):
        return str(repo["full_name"])
    return None
