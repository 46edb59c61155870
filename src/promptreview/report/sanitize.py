"""Make untrusted text safe to put in a PR comment, a check run, an HTML page or a terminal.

Model answers, case data, judge reasons, suite names and file names all come from the PR or from
a model, so the report treats them as hostile. Rendered through these helpers they cannot:

* break the Markdown around them (a ``|`` or newline in a table cell, a backtick fence, a
  ``</details>`` that closes our collapsible section, a ``<!--`` that hides the rest);
* inject HTML (``<img src=x onerror=...>``): ``<``, ``>`` and ``&`` always become entities;
* ping people or teams (``@user``, ``@org/team``) or cross-reference issues (``#123``): a word
  joiner after ``@`` / ``#`` keeps them readable but inert;
* forge the sticky-comment marker: after escaping, ``<!--`` can no longer appear;
* hide content from the reviewer (zero-width characters, bidi overrides);
* leak secrets: :func:`scrub` replaces secret values, raw and encoded.

Entities are used instead of backslash escapes for ``<``, ``>``, ``&`` and ``~`` because both
GitHub's cmark-gfm and Python-Markdown (used for the HTML artifact) decode entities, while
Python-Markdown ignores ``\\<``, which would let a tag through.
"""

from __future__ import annotations

import base64
import functools
import html
import re
import textwrap
import unicodedata
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus, urlsplit

from markupsafe import Markup

__all__ = [
    "ELLIPSIS",
    "MASK",
    "annotation_text",
    "html_text",
    "md_code",
    "md_prose",
    "md_text",
    "neutralize_references",
    "pre_text",
    "safe_url",
    "scrub",
    "strip_hidden",
    "terminal_text",
    "truncate",
]

MASK = "***"
ELLIPSIS = "…"

# U+2060 WORD JOINER: invisible, not a word character, so GitHub's mention and issue-reference
# filters (which need "@name" / "#123" with nothing in between) no longer match.
_JOINER = "\u2060"

# Zero-width and invisible formatting characters, bidi embeddings/overrides/isolates, and the
# Unicode tag block (used for invisible "ASCII smuggling"). Removed, never rendered.
_HIDDEN = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb\U000e0000-\U000e007f]"
)
# C0/C1 control characters except tab and newline (carriage returns are normalised first).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_MENTION = re.compile(r"([@#＠﹫])(?=[\w-])")
# Characters with Markdown meaning that CommonMark and Python-Markdown both accept a backslash
# escape for (``|`` only inside tables for Python-Markdown, which is the only place it matters).
_MD_BACKSLASH = re.compile(r"([\\`*_{}\[\]()#+\-.!|])")
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "~": "&#126;", '"': "&quot;"}
_MD_ENTITY_RE = re.compile("[&<>~\"]")
_WHITESPACE_RUN = re.compile(r"\s+")


def strip_hidden(text: str) -> str:
    """Remove characters a reviewer cannot see and normalise line endings.

    Applied first to every untrusted string, so what the judge saw and what the reviewer reads
    are the same visible text, and hidden instructions or reordered (bidi) text cannot survive.
    """
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _CONTROL.sub("", _HIDDEN.sub("", text))


def neutralize_references(text: str) -> str:
    """Break ``@mentions`` and ``#123`` issue references without changing how the text reads."""
    return _MENTION.sub(lambda m: m.group(1) + _JOINER, text)


def truncate(text: str, limit: int | None) -> str:
    """Cut to at most ``limit`` characters, marking the cut with an ellipsis and the size left out."""
    if limit is None or len(text) <= limit:
        return text
    note = f"{ELLIPSIS} [{len(text) - limit:,} more chars]"
    keep = max(0, limit - len(note))
    return text[:keep].rstrip() + note


def _clean(text: object, secrets: Iterable[str], limit: int | None) -> str:
    value = strip_hidden("" if text is None else str(text))
    value = scrub(value, secrets)
    return truncate(value, limit)


def md_text(text: object, *, secrets: Iterable[str] = (), limit: int | None = None) -> Markup:
    """Untrusted text as one line of inline Markdown, safe in a paragraph, list item or table cell.

    Newlines collapse to spaces (a newline would end a table row), every character with Markdown
    or HTML meaning is escaped, and mentions and references are neutralised.
    """
    return Markup(_escape_md(_one_line(text, secrets, limit)))


def md_code(text: object, *, secrets: Iterable[str] = (), limit: int | None = None) -> Markup:
    """Untrusted text shown as code (ids, paths, names).

    A Markdown code span cannot be escaped from the inside and would carry ``<!--`` verbatim into
    the comment body, so this is a ``<code>`` element around escaped inline Markdown instead.
    """
    return Markup(f"<code>{md_text(text, secrets=secrets, limit=limit)}</code>")


_CODE_SPAN = re.compile(r"`([^`]+)`")


def md_prose(text: object, *, secrets: Iterable[str] = (), limit: int | None = None) -> Markup:
    """A sentence promptreview wrote that quotes untrusted names in backticks (verdict reasons).

    The sentence is escaped like :func:`md_text`, and each backtick-quoted part is shown as code.
    """
    value = _one_line(text, secrets, limit)
    out: list[str] = []
    last = 0
    for match in _CODE_SPAN.finditer(value):
        out.append(_escape_md(value[last:match.start()]))
        out.append(f"<code>{_escape_md(match.group(1))}</code>")
        last = match.end()
    out.append(_escape_md(value[last:]))
    return Markup("".join(out))


def _one_line(text: object, secrets: Iterable[str], limit: int | None) -> str:
    return _WHITESPACE_RUN.sub(" ", _clean(text, secrets, limit)).strip()


def _escape_md(value: str) -> str:
    value = _MD_BACKSLASH.sub(r"\\\1", neutralize_references(value))
    return _MD_ENTITY_RE.sub(lambda m: _MD_ENTITIES[m.group(0)], value)


def html_text(text: object, *, secrets: Iterable[str] = (), limit: int | None = None) -> Markup:
    """Untrusted text for inside raw HTML (``<summary>``, ``<td>``): one line, HTML-escaped.

    Raw HTML blocks are not parsed as Markdown, so Markdown escapes would show as backslashes;
    HTML escaping is what counts there. Newlines become spaces because a blank line would end the
    HTML block and let the rest be parsed as Markdown.
    """
    return Markup(html.escape(neutralize_references(_one_line(text, secrets, limit)), quote=True))


def pre_text(
    text: object, *, secrets: Iterable[str] = (), limit: int | None = None, wrap: int | None = None
) -> Markup:
    """Untrusted multi-line text for inside ``<pre>``: HTML-escaped, newlines as ``&#10;``.

    Encoding newlines keeps the whole ``<pre>`` on one source line, so no blank line or
    indentation in the answer can end the surrounding HTML block, and ``</pre>``, ``</details>``
    or a code fence in the answer are just escaped text. ``wrap`` hard-wraps long lines, because
    ``<pre>`` never wraps and two answers side by side would otherwise scroll sideways.
    """
    value = _clean(text, secrets, limit).replace("\t", "    ")
    if wrap:
        value = "\n".join(_wrap_line(line, wrap) for line in value.split("\n"))
    value = html.escape(neutralize_references(value), quote=True)
    return Markup(value.replace("\n", "&#10;"))


def _wrap_line(line: str, width: int) -> str:
    if len(line) <= width:
        return line
    return "\n".join(textwrap.wrap(line, width, break_long_words=True, break_on_hyphens=False,
                                   drop_whitespace=True, replace_whitespace=False)) or line


def safe_url(url: str | None) -> str | None:
    """An http(s) URL fit for a Markdown link target or an ``href``, or None.

    URLs in the report are built by promptreview, but from values (paths, repo names) that may
    come from the PR; anything that is not plain http(s) is dropped, and characters that could
    end the link or the attribute are percent-encoded.
    """
    if not url:
        return None
    url = strip_hidden(url).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return quote(url, safe="/:?&=#%@+,;~!$'*-._")


def terminal_text(text: object, *, secrets: Iterable[str] = (), limit: int | None = None) -> str:
    """Untrusted text for a terminal or an Actions log: one line, no escape sequences.

    Control characters (ESC starts ANSI sequences that can rewrite the screen) are removed, and
    ``::`` is broken up so a line can never be read as a workflow command by the runner.
    """
    return _one_line(text, secrets, limit).replace("::", ":\u200b:")


def annotation_text(text: object, *, secrets: Iterable[str] = (), limit: int | None = None) -> str:
    """Untrusted multi-line plain text for a check-run annotation (shown verbatim, not rendered)."""
    return neutralize_references(_clean(text, secrets, limit))


# --- secrets ------------------------------------------------------------------------------------

_ENCODED_MIN = 8  # shorter values are too likely to occur by chance in their encoded forms


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret value in ``text`` with ``***``, also in URL-encoded and base64 forms.

    The publish step runs this on every outgoing body as the last line of defence; the renderers
    also run it on untrusted text before escaping, because escaping (``abc_def`` -> ``abc\\_def``)
    would hide a secret from a scrub of the finished Markdown.
    """
    if not text:
        return text
    pattern = _secret_pattern(tuple(sorted({s for s in secrets if s})))
    return pattern.sub(MASK, text) if pattern else text


def scrubber(secrets: Iterable[str]) -> Callable[[str], str]:
    """:func:`scrub` with ``secrets`` fixed, for a caller that scrubs every answer of a run: the
    set of secrets is sorted and its pattern looked up once, not once per string."""
    pattern = _secret_pattern(tuple(sorted({s for s in secrets if s})))
    if pattern is None:
        return lambda text: text
    sub = pattern.sub
    return lambda text: sub(MASK, text) if text else text


@functools.lru_cache(maxsize=32)
def _secret_pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    """One compiled alternation per set of secrets: the renderers scrub thousands of small strings."""
    forms = sorted({form for secret in secrets for form in _forms(secret)}, key=len, reverse=True)
    return re.compile("|".join(re.escape(f) for f in forms)) if forms else None


def _forms(secret: str) -> set[str]:
    forms = {secret, secret.strip()} - {""}
    if len(secret) < _ENCODED_MIN:
        return forms
    forms |= {quote(secret, safe=""), quote_plus(secret, safe=""), html.escape(secret, quote=True)}
    forms |= _base64_cores(secret.encode("utf-8"))
    return {f for f in forms if len(f) >= min(len(secret), _ENCODED_MIN)}


def _base64_cores(raw: bytes) -> set[str]:
    """The base64 characters that depend only on ``raw``, at each of the three byte alignments.

    A secret inside a larger base64 blob (``Basic dXNlcjp0b2tlbg==`` for ``user:token``) is
    encoded at an offset, so its characters differ from a standalone encoding; the characters
    that mix in neighbouring bytes are left out. Both alphabets (standard and URL-safe) count.
    """
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii").rstrip("=")
        start = -(-offset * 8 // 6)  # ceil: first character made only of secret bits
        end = (offset + len(raw)) * 8 // 6  # floor: last character made only of secret bits
        core = encoded[start:end]
        cores |= {core, core.replace("+", "-").replace("/", "_")}
    return cores
