"""Strings that look like personal data or secrets, found and masked before they reach a case file.

Production logs carry what users typed: email addresses, phone numbers, card numbers, and now
and then an API key pasted into a chat. A case file is committed to git and shown in PR
comments, so these are masked (``[email]``, ``[phone]``, ``[card]``, ``[key]``) unless the user
asks to keep them, and every hit is listed in the import summary either way.

Card numbers must pass the Luhn check (so order numbers are not masked); phone numbers need 9-15
digits with phone-like punctuation; keys are the well-known prefixes (``sk-``, ``ghp_``,
``AKIA``, ``xox?-``, ``AIza``...) or long high-entropy tokens next to a word like "key" or "token".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_KEY = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"
    r"|AKIA[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{30,}|glpat-[A-Za-z0-9_-]{20,})"
)
# A long token right after "key:", "token=", "password " and the like (only the token is masked).
_KEY_AFTER_WORD = re.compile(
    r"((?:key|token|secret|password)[\s:=\"']{1,3})([A-Za-z0-9_\-/+]{24,})", re.IGNORECASE
)
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_PHONE = re.compile(r"(?<![\w.])\+?\(?\d[\d ().-]{7,18}\d(?![\w.])")
_ORDER = (("key", _KEY), ("email", _EMAIL), ("card", _CARD), ("phone", _PHONE))


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _is_hit(kind: str, text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    if kind == "card":
        return 13 <= len(digits) <= 19 and _luhn(digits)
    if kind == "phone":
        # Phone-like: 9-15 digits, and either a leading + or some separator (not a bare number).
        return 9 <= len(digits) <= 15 and (text.startswith("+") or bool(re.search(r"[ ().-]", text)))
    return True


@dataclass
class PiiReport:
    """What was found across an import: counts by kind, and which cases had any."""

    counts: Counter[str] = field(default_factory=Counter)
    cases: dict[str, list[str]] = field(default_factory=dict)  # case id -> kinds found

    def add(self, case_id: str, kinds: Counter[str]) -> None:
        if kinds:
            self.counts.update(kinds)
            self.cases[case_id] = sorted(kinds)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def scan(text: str, *, mask: bool) -> tuple[str, Counter[str]]:
    """(text with hits masked when ``mask``, counts by kind). Keys first: they can contain digits."""
    found: Counter[str] = Counter()

    def keyed(m: re.Match[str]) -> str:
        found["key"] += 1
        return m.group(1) + ("[key]" if mask else m.group(2))

    text = _KEY_AFTER_WORD.sub(keyed, text)
    for kind, regex in _ORDER:

        def repl(m: re.Match[str], kind: str = kind) -> str:
            if not _is_hit(kind, m.group(0)):
                return m.group(0)
            found[kind] += 1
            return f"[{kind}]" if mask else m.group(0)

        text = regex.sub(repl, text)
    return text, found


def scan_value(value: Any, *, mask: bool) -> tuple[Any, Counter[str]]:
    """``scan`` through strings inside lists and mappings (case vars are plain data)."""
    if isinstance(value, str):
        return scan(value, mask=mask)
    total: Counter[str] = Counter()
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            out[k], found = scan_value(v, mask=mask)
            total.update(found)
        return out, total
    if isinstance(value, list | tuple):
        items = []
        for v in value:
            new, found = scan_value(v, mask=mask)
            items.append(new)
            total.update(found)
        return items, total
    return value, total
