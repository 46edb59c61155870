"""Load untrusted YAML (pull-request content) safely, with line numbers for error messages.

Why not ``yaml.safe_load``: it accepts aliases (a few hundred bytes can expand to gigabytes, the
"billion laughs"), silently keeps the last of duplicate keys, composes and constructs recursively
(``[[[[...]]]]`` a hundred thousand deep ends in ``RecursionError`` or worse), follows YAML 1.1
(``no`` is ``False``, ``2024-01-01`` is a ``datetime``) and forgets where each value came from.

How: we consume PyYAML's *event stream* (the parser is an explicit state machine, in C or in
Python, so it never recurses) and build the result ourselves with an explicit stack. Every guard is
applied to that stream as it arrives, so a hostile file is rejected at the first offending event,
before anything big is built:

- aliases and anchors are refused (nothing can expand);
- nesting depth is counted on the stack and node count per event;
- only the standard tags ``!!str !!int !!float !!bool !!null !!map !!seq`` (and the non-specific
  ``!``) are allowed, so ``!!python/object/apply:...`` is refused and never constructed;
- mapping keys must be scalars, and duplicates are an error naming the first definition's line,
  worded like gh-models (Go ``yaml.v3``): ``mapping key "x" already defined at line 3``.

Because the guarantees come from our event consumer, the C parser (libyaml, via ``CSafeLoader``)
gives the same ones as the pure-Python parser and is used when available, only for speed.

Scalars follow the YAML 1.2 core schema, which is what gh-models' yaml.v3 mostly implements:

========================================  ============================================
plain scalar                              value
========================================  ============================================
``null Null NULL ~`` and empty            ``None``
``true True TRUE false False FALSE``      ``bool``; ``yes/no/on/off/y/n`` stay strings
``[-+]?[0-9]+``                           ``int``, base 10: ``010`` is 10
``0o17`` / ``0x1F``                       ``int`` 15 / 31 (lower-case prefixes, as in 1.2)
``1.5 .5 1e3 -2.5E-3``                    ``float``
``.inf -.inf .nan`` (and case variants)   ``float``
anything else, incl. ``2024-01-01``       ``str`` (dates are never ``datetime``)
========================================  ============================================

Quoted and block scalars are always strings. Known differences from yaml.v3, all rare in prompt
files: v3 also reads ``0755`` as octal 493, ``1_000`` as 1000, ``0b101`` as 5 and dates as
timestamps, and accepts anchors, aliases and merge keys (``<<``), which we refuse. Mapping keys are
always ``str``: a key is its scalar's text (``1: a`` gives ``{"1": "a"}``), as when yaml.v3 decodes
into ``map[string]any``; this keeps keys usable as template variables and JSON object keys.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, SupportsIndex

import yaml

from promptreview.errors import ConfigError, Location

__all__ = ["YamlList", "YamlMap", "line_of", "load_yaml"]

# The parser is the only part of a loader we use; libyaml's is much faster and, like the Python
# one, iterative. Tests run both.
_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAG_PREFIX = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG_PREFIX + t for t in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ = _TAG_PREFIX + "map", _TAG_PREFIX + "seq"
_SCALAR_TAGS = frozenset({_STR, _INT, _FLOAT, _BOOL, _NULL})

_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT10 = re.compile(r"[-+]?[0-9]+")
_INT8 = re.compile(r"0o[0-7]+")
_INT16 = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT_RE = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INF = re.compile(r"([-+]?)\.(inf|Inf|INF)")
_NAN = frozenset({".nan", ".NaN", ".NAN"})


class YamlMap(dict[str, Any]):
    """A mapping from YAML that remembers where it and each of its keys came from.

    It is a real ``dict`` (``json.dumps``, ``==`` with plain dicts, ``isinstance(x, dict)`` all
    work); the extra attributes exist only so that later validation errors can point at a line.
    Keys added after loading report the mapping's own line.
    """

    __slots__ = ("_key_lines", "line")

    def __init__(
        self,
        data: Mapping[str, Any] | Iterable[tuple[str, Any]] = (),
        /,
        *,
        line: int,
        key_lines: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(data)
        self.line = line
        self._key_lines: dict[str, int] = dict(key_lines or {})

    def key_line(self, key: str) -> int:
        """1-based line of ``key`` (raises ``KeyError`` like ``self[key]`` when it is absent)."""
        if key not in self:
            raise KeyError(key)
        return self._key_lines.get(key, self.line)


class YamlList(list[Any]):
    """A sequence from YAML that remembers where it and each item came from (a real ``list``)."""

    __slots__ = ("_item_lines", "line")

    def __init__(self, data: Iterable[Any] = (), /, *, line: int, item_lines: Iterable[int] = ()) -> None:
        super().__init__(data)
        self.line = line
        self._item_lines: list[int] = list(item_lines)

    def item_line(self, index: SupportsIndex) -> int:
        """1-based line of item ``index`` (negative indexes work; ``IndexError`` when out of range)."""
        i = range(len(self))[index]  # normalises negatives and raises IndexError like list does
        return self._item_lines[i] if i < len(self._item_lines) else self.line


def line_of(node: Any, key_or_index: Any = None, default: int | None = None) -> int | None:
    """Line of ``node`` (or of one of its keys / items), or ``default`` when it is not known.

    Never raises, so error paths can call it on anything: plain dicts, missing keys, scalars.
    """
    try:
        if key_or_index is None:
            line = getattr(node, "line", None)
            return line if isinstance(line, int) else default
        if isinstance(node, YamlMap):
            return node.key_line(key_or_index)
        if isinstance(node, YamlList) and isinstance(key_or_index, int):
            return node.item_line(key_or_index)
    except (KeyError, IndexError, TypeError):
        pass
    return default


_SURROGATE = re.compile("[\ud800-\udfff]")


def load_yaml(
    text: str | bytes,
    file: str,
    *,
    max_bytes: int = 2_000_000,
    max_depth: int = 50,
    max_nodes: int = 200_000,
) -> Any:
    """Parse one YAML document from untrusted input; see the module docstring for the rules.

    Returns plain ``str``/``int``/``float``/``bool``/``None`` scalars, :class:`YamlMap` and
    :class:`YamlList`; an empty document is ``None``. Every problem raises
    :class:`~promptreview.errors.ConfigError` located at ``file`` and a 1-based line.
    """
    # Counting characters first avoids encoding a huge string just to learn it is too big.
    size = (
        len(text)
        if isinstance(text, bytes) or len(text) > max_bytes
        else len(text.encode("utf-8", "replace"))
    )
    if size > max_bytes:
        raise ConfigError(
            f"file is too large to load ({_human_bytes(size)}; the limit is {_human_bytes(max_bytes)})",
            Location(file, 1),
        )
    source = _decode(text, file) if isinstance(text, bytes) else text
    if source.startswith("\ufeff"):
        source = source[1:]
    lone = _SURROGATE.search(source)
    if lone is not None:  # not text at all: the parser (and any later encode) would crash on it
        raise ConfigError(
            f"invalid text: a lone UTF-16 surrogate (U+{ord(lone.group()):04X}) is not a character",
            Location(file, source.count("\n", 0, lone.start()) + 1),
        )
    builder = _Builder(file, max_depth=max_depth, max_nodes=max_nodes)
    try:
        return builder.build(_events(source))
    except yaml.MarkedYAMLError as exc:
        if "nesting depth" in (exc.problem or ""):
            # libyaml >= 0.2.6 (PyYAML 6.0.4's wheels) caps nesting in its scanner, which reads
            # ahead of our builder: report it as the same limit, so the message is ours.
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            raise ConfigError(f"nesting is deeper than {max_depth} levels", Location(file, line)) from None
        raise _syntax_error(exc, file) from None
    except yaml.reader.ReaderError as exc:
        line = source.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        raise ConfigError(f"invalid YAML: {exc.reason} ({char})", Location(file, line)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {_one_line(str(exc))}", Location(file)) from None


def _decode(data: bytes, file: str) -> str:
    """UTF-8 (with or without BOM), or UTF-16 when a BOM says so, like YAML parsers accept."""
    encoding = "utf-16" if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"file is not valid {encoding.removesuffix('-sig').upper()} (byte {exc.start})",
            Location(file, line),
        ) from None


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> ConfigError:
    """PyYAML's scanner/parser error as one line: what is wrong, where, and what it was inside."""
    mark = exc.problem_mark or exc.context_mark
    message = f"invalid YAML: {exc.problem or exc.context or 'syntax error'}"
    if mark is not None:
        message += f" (line {mark.line + 1}, column {mark.column + 1})"
    if exc.problem and exc.context and exc.context_mark is not None:
        message += f"; {exc.context} that starts at line {exc.context_mark.line + 1}"
    return ConfigError(_one_line(message), Location(file, mark.line + 1 if mark is not None else None))


class _Frame:
    """An open collection on the builder's stack."""

    __slots__ = ("container", "is_map", "key", "key_line")

    def __init__(self, container: YamlMap | YamlList) -> None:
        self.container = container
        self.is_map = isinstance(container, YamlMap)
        self.key: str | None = None  # for mappings: the key waiting for its value
        self.key_line = 0


def _events(source: str) -> Iterator[yaml.Event]:
    """The parser's events, straight from ``get_event`` (what ``yaml.parse`` wraps in a generator
    that also asks ``check_event`` before every event: a third of the cost with libyaml)."""
    loader = _LOADER(source)
    try:
        get_event = loader.get_event
        while True:
            event = get_event()
            if event is None:
                return
            yield event
            if event.__class__ is yaml.StreamEndEvent:
                return
    finally:
        loader.dispose()


class _Builder:
    """Turns a YAML event stream into Python values without recursion, enforcing the limits."""

    def __init__(self, file: str, *, max_depth: int, max_nodes: int) -> None:
        self.file = file
        self.max_depth = max_depth
        self.max_nodes = max_nodes

    def fail(self, message: str, event: yaml.Event) -> ConfigError:
        return ConfigError(message, Location(self.file, event.start_mark.line + 1))

    def build(self, events: Iterable[yaml.Event]) -> Any:
        # One pass, dispatching on the event's exact class (the parsers make no subclasses):
        # this loop runs once per value of every cases file, so it avoids isinstance chains and
        # method calls for the common events (plain keys, plain scalars).
        stack: list[_Frame] = []
        top: _Frame | None = None
        root: Any = None
        documents = 0
        nodes = 0
        max_nodes = self.max_nodes
        scalar_event, mapping_start = yaml.ScalarEvent, yaml.MappingStartEvent
        sequence_start = yaml.SequenceStartEvent
        collection_end = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
        for event in events:
            cls = event.__class__
            if cls in collection_end:
                stack.pop()
                top = stack[-1] if stack else None
                continue
            if cls is not scalar_event and cls is not mapping_start and cls is not sequence_start:
                if cls is yaml.AliasEvent:
                    raise self.fail(
                        f"aliases (*{event.anchor}) are not allowed: write the value out in full", event
                    )
                if cls is yaml.DocumentStartEvent:
                    documents += 1
                    if documents > 1:
                        raise self.fail(
                            "only one YAML document is allowed per file (found a second '---')", event
                        )
                continue

            if event.anchor is not None:
                raise self.fail(
                    f"anchors (&{event.anchor}) are not allowed: write the value out in full", event
                )
            nodes += 1
            if nodes > max_nodes:
                raise self.fail(f"too many values in one file (more than {max_nodes:,})", event)
            line = event.start_mark.line + 1

            if cls is scalar_event:
                if top is not None and top.is_map and top.key is None:
                    self._take_key(top, event, line)
                    continue
                value: Any
                if event.tag is None:
                    value = _resolve_plain(event.value) if not event.style else event.value
                else:
                    value = self._scalar(event)
            else:
                if top is not None and top.is_map and top.key is None:
                    raise self.fail("mapping keys must be plain values, not lists or mappings", event)
                if len(stack) >= self.max_depth:
                    raise self.fail(f"nesting is deeper than {self.max_depth} levels", event)
                value = self._collection(event, line)

            if top is None:
                root = value
            elif top.is_map:
                key = top.key
                assert key is not None
                top.container[key] = value
                top.container._key_lines[key] = top.key_line  # type: ignore[union-attr]
                top.key = None
            else:
                top.container.append(value)
                top.container._item_lines.append(line)  # type: ignore[union-attr]
            if cls is not scalar_event:
                top = _Frame(value)
                stack.append(top)
        return root

    def _take_key(self, frame: _Frame, event: yaml.ScalarEvent, line: int) -> None:
        if event.tag not in (None, "!", _STR):
            raise self.fail(f"mapping keys must be plain strings, not {_show_tag(event.tag)} values", event)
        key = event.value
        if key == "<<" and not event.style and event.tag is None:
            raise self.fail("merge keys (<<) are not supported: write the keys out in full", event)
        mapping = frame.container
        assert isinstance(mapping, YamlMap)
        if key in mapping:
            # Worded like gh-models (yaml.v3) so users recognise it.
            raise self.fail(
                f"mapping key {json.dumps(key)} already defined at line {mapping.key_line(key)}", event
            )
        frame.key = key
        frame.key_line = line

    def _collection(self, event: yaml.CollectionStartEvent, line: int) -> YamlMap | YamlList:
        is_map = isinstance(event, yaml.MappingStartEvent)
        kind = "mapping" if is_map else "list"
        if event.tag not in (None, "!", _MAP if is_map else _SEQ):
            raise self.fail(f"the tag {_show_tag(event.tag)} is not allowed on a {kind}", event)
        return YamlMap(line=line) if is_map else YamlList(line=line)

    def _scalar(self, event: yaml.ScalarEvent) -> Any:
        tag, text = event.tag, event.value
        if tag is None:
            return _resolve_plain(text) if not event.style else text
        if tag == "!" or tag == _STR:
            return text
        if tag not in _SCALAR_TAGS:
            raise self.fail(f"the tag {_show_tag(tag)} is not allowed (only standard YAML types are)", event)
        value = _resolve_plain(text)
        ok = {
            _NULL: value is None,
            _BOOL: isinstance(value, bool),
            _INT: isinstance(value, int) and not isinstance(value, bool),
            _FLOAT: isinstance(value, (int, float)) and not isinstance(value, bool),
        }[tag]
        if not ok:
            raise self.fail(f"{text!r} is not a valid {_show_tag(tag)} value", event)
        return float(value) if tag == _FLOAT else value


def _resolve_plain(text: str) -> Any:
    """YAML 1.2 core schema resolution of an untagged plain scalar."""
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    first = text[0]
    if not (first.isascii() and (first.isdigit() or first in "+-.")):
        return text  # fast path: most scalars are words
    try:
        if _INT10.fullmatch(text):
            return int(text, 10)
        if _INT8.fullmatch(text):
            return int(text[2:], 8)
        if _INT16.fullmatch(text):
            return int(text[2:], 16)
    except ValueError:
        # Only Python's guard against quadratic int parsing (over 4300 digits) gets here; such a
        # "number" is not one anybody means, so keep the text.
        return text
    if _FLOAT_RE.fullmatch(text):
        return float(text)
    inf = _INF.fullmatch(text)
    if inf:
        return -math.inf if inf.group(1) == "-" else math.inf
    if text in _NAN:
        return math.nan
    return text


def _show_tag(tag: str | None) -> str:
    if tag is None:
        return "(none)"
    return "!!" + tag.removeprefix(_TAG_PREFIX) if tag.startswith(_TAG_PREFIX) else tag


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _human_bytes(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n:,} bytes"
