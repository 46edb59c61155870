"""Model answers as HTML that wraps to the column it is read in, and base-vs-head word diffs.

A PR conversation is about 800-880 px wide. ``<pre>`` never wraps on GitHub (it scrolls), so two
answers side by side in ``<pre>`` blocks either hide the head answer behind horizontal scrolling
or need hard line breaks that then wrap a second time wherever the column is narrower (orphan
words in the HTML report). Answers are therefore shown as text inside a table cell: escaped,
newlines as ``<br>``, leading indentation kept as no-break spaces, and long unbreakable tokens
(URLs, hashes) given ``<wbr>`` break opportunities so they cannot push the table past the page.

When the two answers share most of their words, one cell with a word-level diff reads faster
than two blocks: ``<del>`` marks what only base said and ``<ins>`` what only head says (both are
on GitHub's HTML allowlist). Everything stays on one source line, so nothing in an answer (a
blank line, ``</td>``, a fence) can end the surrounding HTML block.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Iterable

from markupsafe import Markup

from promptreview.report.sanitize import neutralize_references, scrub, strip_hidden, truncate

__all__ = ["DIFF_SIMILARITY", "answer_cell", "word_diff"]

DIFF_SIMILARITY = 0.5
"""Share of words the two answers have in common above which a word diff replaces two blocks:
below it most of the text is struck out or inserted and two plain answers read better."""

MAX_DIFF_WORK = 160_000
"""Word pairs a diff may compare (400 x 400 words): longer answers are shown as two blocks, since
the matcher's cost grows with the product and a diff of essays would not be read anyway."""

BREAK_EVERY = 24  # characters between break opportunities inside one long token
_TOKENS = re.compile(r"\s+|\S+")
_LEADING = re.compile(r"(?m)^( +)")


def _prepare(text: object, secrets: Iterable[str], limit: int | None) -> str:
    value = strip_hidden("" if text is None else str(text)).replace("\t", "    ")
    return truncate(scrub(value, secrets), limit)


def _token(token: str) -> str:
    """One whitespace run or word, escaped, with break opportunities in words too long to wrap."""
    if token.isspace():
        if "\n" not in token:
            return html.escape(token)
        # Line breaks stay; indentation after the last one survives as no-break spaces (JSON, lists).
        lines = token.split("\n")
        return "<br>" * (len(lines) - 1) + "&nbsp;" * len(lines[-1])
    token = neutralize_references(token)
    pieces = [token[i:i + BREAK_EVERY] for i in range(0, len(token), BREAK_EVERY)]
    return "<wbr>".join(html.escape(p, quote=True) for p in pieces)


def _html(tokens: Iterable[str]) -> str:
    return "".join(_token(t) for t in tokens)


def _leading_spaces(text: str) -> str:
    """Indentation on the first line (later lines are handled with their line break)."""
    match = _LEADING.match(text)
    return "&nbsp;" * len(match.group(1)) if match else ""


def answer_cell(text: object, *, secrets: Iterable[str] = (), limit: int | None = None) -> Markup:
    """An untrusted answer as the content of a ``<td>``: wraps to the column, keeps its lines."""
    value = _prepare(text, secrets, limit)
    lead = _leading_spaces(value)
    return Markup(lead + _html(_TOKENS.findall(value.lstrip(" "))))


def word_diff(
    base: object, head: object, *, secrets: Iterable[str] = (), limit: int | None = None,
    min_similarity: float = DIFF_SIMILARITY,
) -> Markup | None:
    """Base and head as one ``<td>`` body with ``<del>`` / ``<ins>`` words; None when they differ
    too much for a diff to help (or are identical, when there is nothing to mark).

    Words are compared without their whitespace, and each keeps the whitespace that follows it,
    so a changed phrase is one struck-out run and one inserted run, not a word-by-word zipper.
    """
    a = _WORDS.findall(_prepare(base, secrets, limit))
    b = _WORDS.findall(_prepare(head, secrets, limit))
    words_a = [w for w, _ in a]
    words_b = [w for w, _ in b]
    if not words_a or not words_b or words_a == words_b or len(words_a) * len(words_b) > MAX_DIFF_WORK:
        return None
    matcher = difflib.SequenceMatcher(None, words_a, words_b, autojunk=False)
    if matcher.ratio() < min_similarity:
        return None
    out: list[str] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            # Head's spacing, except where head ends and base goes on (a deletion follows).
            run = [(w, space or a[i1 + k][1]) for k, (w, space) in enumerate(b[j1:j2])]
            out.append(_run(run))
            continue
        if i2 > i1:
            out.append(f"<del>{_run(a[i1:i2], trailing=False)}</del>{_gap(a[i2 - 1][1], j2 > j1)}")
        if j2 > j1:
            out.append(f"<ins>{_run(b[j1:j2], trailing=False)}</ins>{_token(b[j2 - 1][1])}")
    return Markup("".join(out))


_WORDS = re.compile(r"(\S+)(\s*)")


def _run(words: list[tuple[str, str]], trailing: bool = True) -> str:
    """Words with their whitespace; without the last one's when a tag closes right after it."""
    parts = [_token(w) + (_token(space) if space and (trailing or i < len(words) - 1) else "")
             for i, (w, space) in enumerate(words)]
    return "".join(parts)


def _gap(space: str, insertion_follows: bool) -> str:
    """The whitespace after a deleted run: a plain space before the insertion that replaces it."""
    return " " if insertion_follows else _token(space)
