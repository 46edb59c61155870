"""Which suites a change affects, and which version of each file each side uses.

A suite is affected when its prompt, a partial its templates include (transitively, on either
side), its cases, or its own definition changed. Suite definitions (metrics, judge, gate) come from
the **base** revision: a PR cannot loosen the gate that judges it. When the PR edits them, the plan
records what changed so the report can say the base's definition was used.

*Which* suites are reviewed is decided by the base too, including the absence of a config (then
base's GitHub Models files are discovered with the defaults): a PR that adds ``discover: false``,
narrows ``prompts:`` or drops a suite from its config still gets every suite base reviews. A suite
the base reviews whose prompt head cannot provide (deleted, pointed at a missing file, turned into
a link, a submodule or an oversize file) is a fault of the PR (``SuitePlan.head_fault``), never a
removal that passes; retiring a suite takes two changes, one that drops it from the config and one
that deletes the prompt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from promptreview.changes import ChangeSet
from promptreview.config import load_config
from promptreview.errors import ConfigError
from promptreview.presence import is_regular_file, why_unreadable
from promptreview.render import referenced_templates
from promptreview.revision import Revision, normalize_path
from promptreview.suite import Config, MetricSpec, SuiteSpec

# "single": a one-revision run (``promptreview run``), nothing to compare against.
SuiteStatus = Literal["modified", "added", "removed", "unchanged", "single"]


@dataclass(frozen=True)
class ModelChoice:
    """The model under test on one side, as that side's config sets it.

    The gate, metrics and judge come from base, but the model and its parameters are part of what
    a PR changes (switching models is a prompt change to review), so each side uses its own.
    ``model`` is the suite's own setting (None: the prompt file's, else ``default``).
    """

    model: str | None
    default: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self, prompt_model: str | None) -> str:
        return self.model or prompt_model or self.default


@dataclass(frozen=True)
class SuitePlan:
    suite: SuiteSpec
    status: SuiteStatus
    base_prompt: str | None
    head_prompt: str | None
    reasons: tuple[str, ...] = ()
    definition_changes: tuple[str, ...] = ()  # what the PR changed in the suite's definition (not used)
    base_model: ModelChoice | None = None
    head_model: ModelChoice | None = None
    head_fault: str | None = None  # the PR broke this suite's prompt (see the module docstring)


@dataclass(frozen=True)
class Plan:
    suites: tuple[SuitePlan, ...]  # affected suites only
    unaffected: tuple[str, ...]
    changes: ChangeSet
    config: Config
    config_note: str | None = None

    def only(self, name: str) -> Plan:
        keep = tuple(s for s in self.suites if s.suite.name == name)
        if not keep:
            known = ", ".join(s.suite.name for s in self.suites) or "none"
            raise ConfigError(f"no affected suite named {name!r} (affected: {known})")
        return replace(self, suites=keep)


def make_plan(
    base: Revision,
    head: Revision,
    changes: ChangeSet,
    config_path: str | None = None,
    all_suites: bool = False,
) -> Plan:
    """Plan the review. ``all_suites`` runs every suite (for ``/rerun`` of an unchanged PR or A/A)."""
    note = None
    base_cfg = _base_config(base, config_path)
    head_cfg = load_config(head, config_path)
    if base_cfg.path is None and head_cfg.path is not None:
        note = (
            f"the config {head_cfg.path} is new in this change: the suites it adds were reviewed as written "
            "at head, and every GitHub Models prompt file the base revision has was reviewed as base "
            "discovers it (with the default settings), whatever the new config says about discovery"
        )
    touched = changes.touched()
    base_by_name = {s.name: s for s in base_cfg.suites}
    head_by_name = {s.name: s for s in head_cfg.suites}
    # Implicit suites are named by path: follow renames so a renamed prompt file stays one suite.
    for s in list(head_cfg.suites):
        if s.implicit:
            old = changes.base_path(s.prompt)
            if old and old != s.prompt and old in base_by_name and s.name not in base_by_name:
                head_by_name[old] = head_by_name.pop(s.name)

    plans: list[SuitePlan] = []
    unaffected: list[str] = []
    for name in dict.fromkeys([*base_by_name, *head_by_name]):
        base_suite, head_suite = base_by_name.get(name), head_by_name.get(name)
        # Planned as if every suite ran, so a model change alone can still make a suite affected.
        plan = _plan_suite(base, head, changes, touched, base_suite, head_suite, all_suites=True)
        if plan is not None:
            plan = _with_models(plan, base_suite, head_suite, base_cfg, head_cfg)
            if plan.status == "unchanged" and not all_suites:
                plan = None
        if plan is None:
            unaffected.append(name)
        else:
            plans.append(plan)
    return Plan(tuple(plans), tuple(unaffected), changes, base_cfg, note)


def _base_config(base: Revision, config_path: str | None) -> Config:
    """The trusted config: base's, or base's discovery when base has none.

    A base config that exists but cannot be used stops the review: falling back to the head's
    config would let the PR under review choose its own suites and gates.
    """
    try:
        return load_config(base, config_path)
    except ConfigError as exc:
        explicit = config_path and normalize_path(config_path)
        if explicit and base.read(explicit) is None and why_unreadable(base, explicit) == "does not exist":
            return load_config(base, None, discover_only=True)
        raise ConfigError(
            f"the base revision's config cannot be used ({exc}); suites and gates come from base so "
            "that a pull request cannot choose its own, so fix the config on the base branch first"
        ) from None


def _with_models(plan: SuitePlan, base_suite: SuiteSpec | None, head_suite: SuiteSpec | None,
                 base_cfg: Config, head_cfg: Config) -> SuitePlan:
    """Each side's model choice; a change of the configured model makes the suite affected."""
    base_choice = (ModelChoice(base_suite.model, base_cfg.defaults.model, dict(base_suite.params))
                   if base_suite else None)
    head_choice = (ModelChoice(head_suite.model, head_cfg.defaults.model, dict(head_suite.params))
                   if head_suite else base_choice)
    reasons = list(plan.reasons)
    status = plan.status
    if base_choice and head_choice and plan.status in ("modified", "unchanged"):
        before, after = base_choice.resolve(None), head_choice.resolve(None)
        if (base_choice.model or base_choice.default) != (head_choice.model or head_choice.default):
            reasons.append(f"model under test changed: {before} → {after}")
        if base_choice.params != head_choice.params:
            reasons.append("model parameters changed")
        if status == "unchanged" and len(reasons) > len(plan.reasons):
            reasons = [r for r in reasons if r != "re-run requested"]
            status = "modified"
    return replace(plan, reasons=tuple(reasons), status=status, base_model=base_choice,
                   head_model=head_choice)


def _plan_suite(
    base: Revision,
    head: Revision,
    changes: ChangeSet,
    touched: set[str],
    base_suite: SuiteSpec | None,
    head_suite: SuiteSpec | None,
    all_suites: bool,
) -> SuitePlan | None:
    suite = base_suite or head_suite
    assert suite is not None
    base_prompt = base_suite.prompt if base_suite and base.read(base_suite.prompt) is not None else None
    if head_suite is not None:
        wanted: str | None = head_suite.prompt
    elif base_prompt is not None:
        wanted = changes.head_path(base_prompt) or base_prompt
    else:
        wanted = None
    head_prompt = wanted if wanted is not None and _provides(head, wanted) else None
    if base_prompt is None and head_prompt is None:
        if base_suite is None and wanted is not None:  # a suite head's config adds, naming no file
            fault = f"at head, the prompt `{wanted}` that the config names {why_unreadable(head, wanted)}"
            return SuitePlan(suite, "added", None, None, ("new suite",), head_fault=fault)
        return None
    head_fault = None
    reasons: list[str] = []
    definition_changes: tuple[str, ...] = ()
    if base_suite is not None and head_suite is not None:
        definition_changes = describe_suite_change(base_suite, head_suite)
        if definition_changes:
            reasons.append("suite definition changed")
    if base_prompt is None:
        status: SuiteStatus = "added"
        reasons.insert(0, "new prompt")
    elif head_prompt is None:
        status = "removed"
        reasons.insert(0, "prompt removed")
        assert wanted is not None
        head_fault = _unprovided(head, changes, suite, base_prompt, wanted, head_suite)
    else:
        status = "modified"
        if base_prompt != head_prompt:
            reasons.insert(0, f"prompt renamed from {base_prompt}")
        elif base_prompt in touched:
            reasons.insert(0, "prompt changed")
        partials = _partials(base, base_prompt) | _partials(head, head_prompt)
        for p in sorted(partials & touched):
            reasons.append(f"included template {p} changed")
        cases_path = suite.cases
        if cases_path and cases_path in touched:
            reasons.append("cases changed")
        if not reasons and not all_suites:
            return None
        if not reasons:
            reasons.append("re-run requested")
            status = "unchanged"
    return SuitePlan(
        suite, status, base_prompt, head_prompt, tuple(reasons), definition_changes, head_fault=head_fault
    )


def _provides(rev: Revision, path: str) -> bool:
    return rev.read(path) is not None and is_regular_file(rev, path)


def _unprovided(
    head: Revision, changes: ChangeSet, suite: SuiteSpec, base_prompt: str, wanted: str,
    head_suite: SuiteSpec | None,
) -> str:
    """Why a suite the base reviews has no prompt at head, and what to do about it."""
    why = why_unreadable(head, wanted)
    deleted = head_suite is None and changes.head_path(base_prompt) is None and why == "does not exist"
    if not deleted:
        pointed = " (head's config points the suite at it)" if head_suite and wanted != base_prompt else ""
        return f"at head, the prompt `{wanted}`{pointed} {why}"
    how = (
        "a GitHub Models prompt file is a suite by itself, so first exclude it with `prompts:` in the config"
        if suite.implicit
        else "first remove the suite from the config"
    )
    return (
        f"the prompt `{wanted}` is deleted at head, but the base revision still reviews it; to retire a "
        f"suite, {how} in a change of its own, then delete the prompt"
    )


def _partials(rev: Revision, prompt_path: str) -> set[str]:
    source = rev.read(prompt_path)
    if source is None or prompt_path.endswith((".prompt.yml", ".prompt.yaml")):
        return set()
    try:
        return set(referenced_templates(source, prompt_path, rev.read))
    except Exception:
        return set()


# Not part of the gate: where the suite lives (renames are reported as such) and the model under
# test, which each side takes from its own config (see ModelChoice).
_IGNORED_FIELDS = {"location", "implicit", "prompt", "model", "params", "cases_location"}

# How a reviewer calls each field of a suite's definition (the config's own key where it has one).
_FIELD_WORDS = {
    "cases": "cases file",
    "judge": "judge model",
    "embedding_model": "embedding model",
    "system": "system message",
    "compare_criteria": "judge criteria",
    "compare": "which-is-better",
    "judge_labels": "judge labels",
}
_VALUE_CHARS = 48  # a quoted value longer than this is clipped: the note names the change, the diff shows it


def describe_suite_change(base: SuiteSpec, head: SuiteSpec) -> tuple[str, ...]:
    """Plain words for what a PR changed in a suite's definition (gate, metrics, judge...).

    One phrase per change, written as a reviewer reads a config diff: ``gate.margin 0.3 → 0.5``,
    ``metrics: added `equivalent`; removed `max-length```, ``judge model `a` → `b```. Values come
    from head's config, which the PR controls: they are quoted in backticks (the report's prose
    filter escapes them) with any backtick inside replaced, and clipped.
    """
    out: list[str] = []
    for f in fields(SuiteSpec):
        if f.name in _IGNORED_FIELDS or (f.name == "name" and base.implicit and head.implicit):
            continue
        a, b = getattr(base, f.name), getattr(head, f.name)
        if a == b:
            continue
        if f.name == "metrics":
            said = _metric_changes(a, b)
            if said:
                out.append(f"metrics: {said}")
        elif f.name == "gate":
            out += [f"gate.{g.name} {_value(getattr(a, g.name))} → {_value(getattr(b, g.name))}"
                    for g in fields(a) if getattr(a, g.name) != getattr(b, g.name)]
        elif f.name == "coverage":
            out.append(f"coverage {_coverage(a)} → {_coverage(b)}")
        elif f.name == "compare":
            out.append(f"which-is-better turned {'on' if b else 'off'}")
        elif f.name == "system" and a is not None and b is not None:
            out.append(f"system message edited ({_value(a)} → {_value(b)})")
        else:
            out.append(f"{_FIELD_WORDS.get(f.name, f.name)} {_value(a)} → {_value(b)}")
    return tuple(out)


def _metric_changes(base: Sequence[MetricSpec], head: Sequence[MetricSpec]) -> str:
    """``added `a`; removed `b`; `c` no longer gated; `d` settings: value `x` → `y```."""
    before = {m.name: m for m in base}
    after = {m.name: m for m in head}
    parts: list[str] = []
    added = [n for n in after if n not in before]
    removed = [n for n in before if n not in after]
    if added:
        parts.append("added " + ", ".join(_quote(n) for n in added))
    if removed:
        parts.append("removed " + ", ".join(_quote(n) for n in removed))
    for name in (n for n in before if n in after):
        a, b = before[name], after[name]
        if a.kind != b.kind:
            parts.append(f"{_quote(name)} is now a {_quote(b.kind)} check (was {_quote(a.kind)})")
        elif dict(a.args) != dict(b.args):
            parts.append(f"{_quote(name)} settings: {_args_change(dict(a.args), dict(b.args))}")
        if a.gate != b.gate:
            parts.append(f"{_quote(name)} {'now gated' if b.gate else 'no longer gated (reported only)'}")
    if not parts and [m.name for m in base] != [m.name for m in head]:
        parts.append("reordered")
    return "; ".join(parts)


def _args_change(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    keys = list(dict.fromkeys([*a, *b]))
    said = []
    for k in keys:
        if k not in b:
            said.append(f"{_quote(k)} dropped")
        elif k not in a:
            said.append(f"{_quote(k)} {_value(b[k])} added")
        elif a[k] != b[k]:
            said.append(f"{_quote(k)} {_value(a[k])} → {_value(b[k])}")
    return ", ".join(said) if said else "edited"


def _coverage(c: object) -> str:
    if c is None:
        return "off"
    return f"{_value(getattr(c, 'inputs', None))} within {_value(getattr(c, 'radius', None))}"


def _value(v: object) -> str:
    """A config value as a reviewer would write it: ``0.3``, ``on``, ``not set``, ```text```."""
    if v is None:
        return "not set"
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float | int):
        return f"{v:g}"
    if isinstance(v, Mapping):
        return _quote(", ".join(f"{k}: {_plain(x)}" for k, x in v.items()))
    if isinstance(v, list | tuple):
        return _quote(", ".join(_plain(x) for x in v))
    return _quote(str(v))


def _plain(v: object) -> str:
    if isinstance(v, float | int) and not isinstance(v, bool):
        return f"{v:g}"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k}: {_plain(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_plain(x) for x in v) + "]"
    return str(v)


def _quote(text: str) -> str:
    text = " ".join(str(text).replace("`", "'").split())
    return "`" + (text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…") + "`"
