"""Map a production request back to the suite's template variables.

A suite's prompt is text with holes; a logged request is that text with the holes filled. For a
template that only substitutes values (``{{ name }}``, ``{{ vars.name }}``, gh-models'
``{{name}}``) the fixed text between the holes is known, so a regex built from it recovers each
variable's value. Templates with tags, filters or includes cannot be inverted that way; the
caller then needs ``--var NAME=PATH`` mappings, and we say so instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import jinja2
from jinja2 import nodes

from promptreview.suite import Prompt

_GH_PLACEHOLDER = re.compile(r"\{\{([^{}\s]+)\}\}")


@dataclass(frozen=True)
class MessagePattern:
    role: str
    regex: re.Pattern[str] | None  # None: a message we cannot invert
    names: tuple[str, ...]  # group i+1 is names[i]


@dataclass(frozen=True)
class TemplateMatcher:
    """Inverse of a prompt's templates; ``problem`` says why it cannot invert them, if it can't."""

    messages: tuple[MessagePattern, ...]
    variables: tuple[str, ...]
    problem: str | None = None

    def match(self, messages: Sequence[tuple[str, str]]) -> tuple[dict[str, str] | None, str | None]:
        """(vars, None) on success, else (None, the reason in a few words)."""
        if self.problem:
            return None, self.problem
        ours = [m for m in self.messages if m.regex is not None or m.role != "assistant"]
        theirs = list(messages)
        # A logged request may carry earlier turns; our messages are its last ones.
        if len(theirs) < len(ours):
            return None, f"the request has {len(theirs)} message(s), the prompt {len(ours)}"
        theirs = theirs[len(theirs) - len(ours) :]
        found: dict[str, str] = {}
        for pattern, (role, content) in zip(ours, theirs, strict=True):
            if pattern.role != role:
                return None, f"message roles differ ({role} where the prompt has {pattern.role})"
            assert pattern.regex is not None
            m = pattern.regex.fullmatch(content.strip())
            if m is None:
                return None, f"the {role} message does not match the template's fixed text"
            for i, name in enumerate(pattern.names):
                value = m.group(i + 1)
                if name in found and found[name] != value:
                    return None, f"variable {name!r} has two different values"
                found[name] = value
        return found, None


ReadFile = Callable[[str], "str | None"]


def matcher_for(prompt: Prompt, read_file: ReadFile | None = None) -> TemplateMatcher:
    """``read_file`` reads repo files, so ``{% include "literal" %}`` partials are inlined."""
    patterns: list[MessagePattern] = []
    names: list[str] = []
    for msg in prompt.messages:
        if prompt.substitution == "gh-models":
            parts = _gh_parts(msg.content)
        else:
            parts = _jinja_parts(msg.content, prompt.path, read_file or (lambda _p: None), 0)
            if parts is None:
                return TemplateMatcher(
                    (),
                    (),
                    "the template uses tags, filters or includes; map its variables with --var NAME=PATH",
                )
        regex, group_names = _compile(parts)
        patterns.append(MessagePattern(msg.role, regex, group_names))
        names.extend(group_names)
    return TemplateMatcher(tuple(patterns), tuple(dict.fromkeys(names)))


def template_variables(prompt: Prompt) -> tuple[str, ...]:
    """The variables a prompt's templates name (best effort for complex Jinja: its free names)."""
    names: list[str] = []
    for msg in prompt.messages:
        if prompt.substitution == "gh-models":
            names.extend(m.group(1) for m in _GH_PLACEHOLDER.finditer(msg.content))
            continue
        try:
            tree = jinja2.Environment().parse(msg.content)
        except jinja2.TemplateSyntaxError:
            continue
        for node in tree.find_all(nodes.Getattr):
            if isinstance(node.node, nodes.Name) and node.node.name == "vars":
                names.append(node.attr)
        for node in tree.find_all(nodes.Name):
            if node.ctx == "load" and node.name != "vars":
                names.append(node.name)
    return tuple(dict.fromkeys(names))


Part = str | tuple[str]  # fixed text, or (variable name,)


def _gh_parts(source: str) -> list[Part]:
    parts: list[Part] = []
    pos = 0
    for m in _GH_PLACEHOLDER.finditer(source):
        parts.append(source[pos : m.start()])
        parts.append((m.group(1),))
        pos = m.end()
    parts.append(source[pos:])
    return parts


def _jinja_parts(source: str, path: str, read_file: ReadFile, depth: int) -> list[Part] | None:
    try:
        tree = jinja2.Environment(keep_trailing_newline=True).parse(source)
    except jinja2.TemplateSyntaxError:
        return None
    parts: list[Part] = []
    for stmt in tree.body:
        if isinstance(stmt, nodes.Include) and isinstance(stmt.template, nodes.Const) and depth < 10:
            inner = _read_include(stmt.template.value, path, read_file)
            if inner is None:
                return None
            inner_parts = _jinja_parts(inner[1], inner[0], read_file, depth + 1)
            if inner_parts is None:
                return None
            parts.extend(inner_parts)
            continue
        if not isinstance(stmt, nodes.Output):
            return None
        for node in stmt.nodes:
            if isinstance(node, nodes.TemplateData):
                parts.append(node.data)
            elif isinstance(node, nodes.Name) and node.ctx == "load":
                parts.append((node.name,))
            elif (
                isinstance(node, nodes.Getattr)
                and isinstance(node.node, nodes.Name)
                and node.node.name == "vars"
            ):
                parts.append((node.attr,))
            else:
                return None
    return parts


def _read_include(name: object, including: str, read_file: ReadFile) -> tuple[str, str] | None:
    """(path, text) of an included partial, looked up as the renderer does; None when missing."""
    from promptreview.render import _include_candidates, _RefusedPath

    try:
        candidates = _include_candidates(name, including)
    except _RefusedPath:
        return None
    for candidate in candidates:
        text = read_file(candidate)
        if text is not None:
            return candidate, text
    return None


def _compile(parts: list[Part]) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """Fixed text escaped, each whitespace run matching any whitespace; each hole a lazy group
    (a variable used twice must repeat its value: a backreference)."""
    pattern: list[str] = []
    names: list[str] = []
    text_parts: list[Part] = []
    for part in parts:  # adjacent fixed texts (an inlined partial) are one text
        if isinstance(part, str) and text_parts and isinstance(text_parts[-1], str):
            text_parts[-1] += part
        else:
            text_parts.append(part)
    # Leading and trailing whitespace of the whole message is stripped on both sides.
    if text_parts and isinstance(text_parts[0], str):
        text_parts[0] = text_parts[0].lstrip()
    if text_parts and isinstance(text_parts[-1], str):
        text_parts[-1] = text_parts[-1].rstrip()
    for part in text_parts:
        if isinstance(part, str):
            pattern.extend(r"\s+" if tok.isspace() else re.escape(tok) for tok in _WS.split(part) if tok)
        elif part[0] in names:
            pattern.append(f"(?P={_group(names.index(part[0]))})")
        else:
            names.append(part[0])
            pattern.append(f"(?P<{_group(len(names) - 1)}>.*?)")
    # Backreferences are not groups, so group(i + 1) is names[i].
    return re.compile("".join(pattern), re.DOTALL), tuple(names)


_WS = re.compile(r"(\s+)")


def _group(i: int) -> str:
    return f"v{i}"


def vars_text(values: Mapping[str, object]) -> str:
    """The text embedded for similarity: variable values in name order (fixed text adds nothing)."""
    return "\n".join(f"{k}: {values[k]}" for k in sorted(values))
