"""Which case variables a prompt reads, found by parsing only (nothing is rendered or executed).

Three questions the review asks of a prompt, all answered here so ``promptreview validate`` can
ask them too, without a model call:

* :func:`unmatched_placeholders`: GitHub Models placeholders (``{{question}}``) that no case gives
  a value for. gh-models leaves such a placeholder as written, so the model would be sent literal
  braces; Jinja templates do not need this (``StrictUndefined`` fails the render instead).
* :func:`missing_variables`: per variable, the cases that do not give it (for validate).
* :func:`dropped_variables`: variables every case gives and the base prompt reads, but the head
  prompt no longer reads: the model stops seeing that input, which no metric may notice.

Jinja usage is the set of top-level names a template (and every partial it includes) reads, with
``vars.x`` / ``vars['x']`` counted as ``x``. When a template uses ``vars`` as a whole (a loop over
it, ``vars[key]``, ``{{ vars }}``) the set cannot be known and the functions answer ``None``/nothing
rather than guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from promptreview.render import referenced_templates
from promptreview.suite import Case, Prompt

ReadFn = Callable[[str], str | None]

_PLACEHOLDER = re.compile(r"\{\{([^{}]+)\}\}")
_PARSER = ImmutableSandboxedEnvironment()  # parses only; never renders
_GUARDS = ("defined", "undefined", "none")  # `x is defined`: the template copes without x
_GLOBALS = frozenset({"range", "dict", "namespace", "cycler", "joiner"})  # the renderer's, not a case's


def used_variables(prompt: Prompt, read: ReadFn) -> frozenset[str] | None:
    """Case variables the prompt reads; None when that cannot be known from the source alone."""
    if prompt.substitution == "gh-models":
        return frozenset(
            name for m in prompt.messages for name in _PLACEHOLDER.findall(m.content)
        )
    names: set[str] = set()
    for source, _path in _sources(prompt, read):
        found = _jinja_names(source)
        if found is None:
            return None
        names |= found
    return frozenset(names)


def unmatched_placeholders(prompt: Prompt, cases: Sequence[Case]) -> tuple[str, ...]:
    """gh-models placeholders no case gives a value for (each would reach the model as literal text)."""
    if prompt.substitution != "gh-models" or not cases:
        return ()
    given = {str(k) for c in cases for k in c.vars}
    used = dict.fromkeys(n for m in prompt.messages for n in _PLACEHOLDER.findall(m.content))
    return tuple(n for n in used if n not in given)


def missing_variables(prompt: Prompt, cases: Sequence[Case], read: ReadFn) -> dict[str, tuple[str, ...]]:
    """Variable -> ids of the cases that do not give it, for variables the prompt reads unguarded.

    For Jinja, a name tested with ``is defined`` or given a ``default`` is not required. Empty when
    usage cannot be known (see the module docstring).
    """
    if prompt.substitution == "gh-models":
        used: Iterable[str] | None = dict.fromkeys(
            n for m in prompt.messages for n in _PLACEHOLDER.findall(m.content)
        )
        guarded: set[str] = set()
    else:
        used, guarded = set(), set()
        for source, _path in _sources(prompt, read):
            found = _jinja_names(source)
            if found is None:
                return {}
            used |= found  # type: ignore[operator]
            guarded |= _guarded_names(source)
    out: dict[str, tuple[str, ...]] = {}
    for name in sorted(set(used or ()) - guarded):
        lacking = tuple(c.id for c in cases if name not in c.vars)
        if lacking:
            out[name] = lacking
    return out


def dropped_variables(
    base: Prompt, head: Prompt, cases: Sequence[Case], read_base: ReadFn, read_head: ReadFn
) -> tuple[str, ...]:
    """Variables every case gives and base reads that head no longer reads (sorted)."""
    if not cases:
        return ()
    before, after = used_variables(base, read_base), used_variables(head, read_head)
    if before is None or after is None:
        return ()
    everywhere = set.intersection(*({str(k) for k in c.vars} for c in cases))
    return tuple(sorted((before - after) & everywhere))


# --------------------------------------------------------------------------------------------


def _sources(prompt: Prompt, read: ReadFn) -> list[tuple[str, str]]:
    """Every message template of the prompt, then every partial they pull in."""
    out = [(m.content, prompt.path) for m in prompt.messages]
    seen: set[str] = set()
    for content in [m.content for m in prompt.messages]:
        for path in sorted(referenced_templates(content, prompt.path, read)):
            if path in seen:
                continue
            seen.add(path)
            text = read(path)
            if text is not None:
                out.append((text, path))
    return out


def _parse(source: str) -> nodes.Template | None:
    try:
        return _PARSER.parse(source)
    except (jinja2.TemplateSyntaxError, RecursionError):
        return None  # the render reports it, with its line


def _jinja_names(source: str) -> set[str] | None:
    ast = _parse(source)
    if ast is None:
        return set()
    names = set(meta.find_undeclared_variables(ast)) - _GLOBALS
    if "vars" not in names:
        return names
    names.discard("vars")
    parents = _parents(ast)
    for node in ast.find_all(nodes.Name):
        if node.name != "vars" or node.ctx != "load":
            continue
        parent = parents.get(id(node))
        key = _constant_key(parent, node)
        if key is None:
            return None  # `vars` used as a whole: usage cannot be known
        names.add(key)
    return names


def _constant_key(parent: nodes.Node | None, child: nodes.Node) -> str | None:
    if isinstance(parent, nodes.Getattr) and parent.node is child:
        return parent.attr
    if (
        isinstance(parent, nodes.Getitem)
        and parent.node is child
        and isinstance(parent.arg, nodes.Const)
        and isinstance(parent.arg.value, str)
    ):
        return parent.arg.value
    return None


def _parents(ast: nodes.Node) -> Mapping[int, nodes.Node]:
    out: dict[int, nodes.Node] = {}
    stack = [ast]
    while stack:
        node = stack.pop()
        for child in node.iter_child_nodes():
            out[id(child)] = node
            stack.append(child)
    return out


def _guarded_names(source: str) -> set[str]:
    """Names the template tests for (``x is defined``) or gives a default (``x | default('')``)."""
    ast = _parse(source)
    if ast is None:
        return set()
    out: set[str] = set()
    for node in ast.find_all((nodes.Test, nodes.Filter)):
        if isinstance(node, nodes.Test) and node.name not in _GUARDS:
            continue
        if isinstance(node, nodes.Filter) and node.name not in ("default", "d"):
            continue
        target = node.node
        if isinstance(target, nodes.Name):
            out.add(target.name)
        elif isinstance(target, nodes.Getattr | nodes.Getitem) and isinstance(target.node, nodes.Name):
            key = _constant_key(target, target.node)
            if key is not None and target.node.name == "vars":
                out.add(key)
    return out
