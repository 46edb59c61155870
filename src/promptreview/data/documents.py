"""Documents to passages, for ``promptreview generate --from FILES``.

A question/answer pair is only as checkable as the text it came from, so each passage is small
enough for a reviewer to read beside the case (about :data:`TARGET_CHARS`), keeps the heading it
sits under (a question about "Refunds" should be read in that section) and remembers the file
and lines it came from. Markdown and plain text split at blank lines and headings, never inside
a fenced code block; HTML goes through the standard library's ``html.parser`` (a real tokenizer,
so entities, comments, attributes and unclosed tags are handled), keeping the text of block
elements and dropping scripts, styles, navigation, footers and hidden elements.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from promptreview.errors import ConfigError

TARGET_CHARS = 1200  # about 300 tokens: a reviewer reads it at a glance, a model answers from it
MIN_CHARS = 200  # a shorter section joins the next one rather than become a passage of its own
MARKDOWN = (".md", ".markdown", ".mdx")
TEXT = (".txt", ".text", ".rst")
HTML = (".html", ".htm", ".xhtml")
SUFFIXES = MARKDOWN + TEXT + HTML


@dataclass(frozen=True)
class Passage:
    file: str  # as shown to the user: relative to the repository when inside it
    start: int  # first line (1-based)
    end: int  # last line
    heading: str  # "Billing > Refunds", or "" before any heading
    text: str

    @property
    def where(self) -> str:
        lines = f"{self.start}" if self.start == self.end else f"{self.start}-{self.end}"
        return f"{self.file}:{lines}"


@dataclass(frozen=True)
class _Block:
    """A paragraph, list, table row or code block, with its lines and the heading above it."""

    start: int
    end: int
    heading: str
    text: str
    starts_section: bool = False


def read_passages(paths: Sequence[str], repo: Path) -> list[Passage]:
    """Every passage of every file (directories: their Markdown, text and HTML files, sorted)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_absolute() and not path.exists() and (repo / path).exists():
            path = repo / path
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES))
            if not found:
                raise ConfigError(f"{raw}: no Markdown, text or HTML files in this folder")
            files.extend(found)
        elif path.is_file():
            if not path.name.lower().endswith(SUFFIXES):
                raise ConfigError(
                    f"{raw}: --from reads Markdown (.md), text (.txt, .rst) and HTML (.html) files"
                )
            files.append(path)
        else:
            raise ConfigError(f"{raw}: file not found")
    passages: list[Passage] = []
    for path in dict.fromkeys(files):
        passages.extend(file_passages(path, _shown(path, repo)))
    return passages


def _shown(path: Path, repo: Path) -> str:
    try:
        return path.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        return str(path)


def file_passages(path: Path, shown: str) -> list[Passage]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read ({exc.strerror})") from None
    lower = path.name.lower()
    if lower.endswith(HTML):
        blocks = html_blocks(text)
    elif lower.endswith(MARKDOWN):
        blocks = markdown_blocks(text)
    else:
        blocks = text_blocks(text)
    return pack(blocks, shown)


# -- Markdown and plain text -----------------------------------------------------------------

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_BREAK = re.compile(r"^ {0,3}([-*_])( *\1){2,} *$")


def markdown_blocks(text: str) -> list[_Block]:
    lines = text.splitlines()
    i = 0
    if lines and lines[0].strip() == "---":  # YAML front matter is metadata, not content
        for j in range(1, len(lines)):
            if lines[j].strip() in ("---", "..."):
                i = j + 1
                break
    path: list[tuple[int, str]] = []  # (level, title) of the headings above
    blocks: list[_Block] = []
    para: list[str] = []
    para_start = 0
    new_section = False

    def heading() -> str:
        return " > ".join(t for _, t in path)

    def flush(end: int) -> None:
        nonlocal para, new_section
        body = "\n".join(para).strip()
        if body:
            blocks.append(_Block(para_start, end, heading(), body, new_section))
            new_section = False
        para = []

    def set_heading(level: int, title: str) -> None:
        nonlocal new_section
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, _inline(title)))
        new_section = True

    while i < len(lines):
        line = lines[i]
        n = i + 1
        fence = _FENCE.match(line)
        if fence:
            flush(n - 1)
            marker = fence.group(1)
            start = n
            body = [line]
            i += 1
            while i < len(lines):
                body.append(lines[i])
                i += 1
                if lines[i - 1].strip().startswith(marker[0] * len(marker)) and len(body) > 1:
                    break
            code = "\n".join(body).strip()
            blocks.append(_Block(start, i, heading(), code, new_section))
            new_section = False
            continue
        atx = _ATX.match(line)
        if atx:
            flush(n - 1)
            set_heading(len(atx.group(1)), atx.group(2) or "")
            i += 1
            continue
        if para and len(para) == 1 and _SETEXT.match(line) and not _is_list_item(para[0]):
            title = para[0]
            para = []
            set_heading(1 if line.strip().startswith("=") else 2, title.strip())
            i += 1
            continue
        if not line.strip() or (not para and _BREAK.match(line)):
            flush(n - 1)
            i += 1
            continue
        if not para:
            para_start = n
        para.append(line)
        i += 1
    flush(len(lines))
    return blocks


def _is_list_item(line: str) -> bool:
    return bool(re.match(r"^\s*([-*+]|\d+[.)])\s", line))


def _inline(title: str) -> str:
    """A heading's text without link and emphasis syntax."""
    title = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", title)
    return re.sub(r"[*_`]+", "", title).strip()


def text_blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    para: list[str] = []
    start = 0
    lines = text.splitlines()
    for n, line in enumerate(lines, start=1):
        if line.strip():
            if not para:
                start = n
            para.append(line)
        elif para:
            blocks.append(_Block(start, n - 1, "", "\n".join(para).strip()))
            para = []
    if para:
        blocks.append(_Block(start, len(lines), "", "\n".join(para).strip()))
    return blocks


# -- HTML ------------------------------------------------------------------------------------

_SKIP = frozenset(
    {"script", "style", "noscript", "template", "svg", "nav", "footer", "aside", "head", "iframe", "form"}
)
_BLOCK = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "li", "ul", "ol", "dl", "dt", "dd",
        "pre", "blockquote", "table", "thead", "tbody", "tr", "figure", "figcaption", "br", "hr",
        "details", "summary", "caption", "body", "h1", "h2", "h3", "h4", "h5", "h6",
    }
)  # fmt: skip
_HEADINGS = {f"h{k}": k for k in range(1, 7)}
_VOID = frozenset(
    {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source", "wbr"}
)


class _TextExtractor(HTMLParser):
    """The readable text of a page as blocks: one per paragraph, list item, row or heading."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[_Block] = []
        self.title = ""
        self._skip: list[str] = []  # open elements whose content is dropped
        self._in_title = False
        self._pre = 0
        self._text: list[str] = []
        self._start = 0
        self._heading_level = 0
        self._path: list[tuple[int, str]] = []
        self._new_section = False
        self._cells = 0
        self._item = False  # the next block is a list item: prefix it with "- "

    def _line(self) -> int:
        return self.getpos()[0]

    def _flush(self) -> None:
        raw = "".join(self._text)
        self._text = []
        body = raw.strip("\n") if self._pre else re.sub(r"\s+", " ", raw).strip()
        self._cells = 0
        if not body.strip():
            return
        if self._heading_level:
            level = self._heading_level
            while self._path and self._path[-1][0] >= level:
                self._path.pop()
            self._path.append((level, body))
            self._new_section = True
            return
        heading = " > ".join(t for _, t in self._path) or re.sub(r"\s+", " ", self.title).strip()
        if self._item:
            body, self._item = f"- {body}", False
        self.blocks.append(_Block(self._start, self._line(), heading, body, self._new_section))
        self._new_section = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
            return
        hidden = any(k == "hidden" or (k == "aria-hidden" and v == "true") for k, v in attrs)
        if self._skip or tag in _SKIP or (hidden and tag not in _VOID):
            if tag not in _VOID:
                self._skip.append(tag)
            return
        if tag in _BLOCK:
            self._flush()
            self._start = self._line()
            if tag in _HEADINGS:
                self._heading_level = _HEADINGS[tag]
            elif tag == "li":
                self._item = True
            elif tag == "pre":
                self._pre += 1
        elif tag in ("td", "th"):
            if self._cells:
                self._text.append(" | ")
            self._cells += 1
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self._text.append(f" {alt} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            return
        if self._skip:
            if tag in self._skip:  # close up to the matching element (tolerates unclosed children)
                while self._skip and self._skip.pop() != tag:
                    pass
            return
        if tag in _BLOCK:
            self._flush()
            self._start = self._line()
            if tag in _HEADINGS:
                self._heading_level = 0
            elif tag == "pre" and self._pre:
                self._pre -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
            return
        if self._skip:
            return
        if not self._text:
            self._start = self._line()
        self._text.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def html_blocks(text: str) -> list[_Block]:
    parser = _TextExtractor()
    parser.feed(text)
    parser.close()
    return parser.blocks


# -- Packing blocks into passages ------------------------------------------------------------


def pack(blocks: Iterable[_Block], shown: str, target: int = TARGET_CHARS) -> list[Passage]:
    """Consecutive blocks joined up to ``target`` characters; a new section starts a new passage
    unless the current one is still shorter than :data:`MIN_CHARS`."""
    passages: list[Passage] = []
    cur: list[_Block] = []
    size = 0

    def emit() -> None:
        nonlocal cur, size
        if cur:
            # A section joined to the one before keeps its title, so the passage reads as written.
            text = ""
            for k, b in enumerate(cur):
                titled = b.starts_section and k and b.heading
                body = f"{b.heading.rsplit(' > ', 1)[-1]}\n{b.text}" if titled else b.text
                # HTML list items arrive one block each; they read as one list.
                same_list = k and not titled and b.text.startswith("- ") and cur[k - 1].text.startswith("- ")
                text += ("\n" if same_list else "\n\n" if k else "") + body
            passages.append(Passage(shown, cur[0].start, cur[-1].end, cur[0].heading, text))
        cur, size = [], 0

    for block in _split_long(blocks, target):
        if cur and (size + len(block.text) > target or (block.starts_section and size >= MIN_CHARS)):
            emit()
        cur.append(block)
        size += len(block.text) + 2
    emit()
    return passages


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _split_long(blocks: Iterable[_Block], target: int) -> Iterable[_Block]:
    """A block longer than ``target`` cut at sentence ends (or spaces), never mid-word."""
    for b in blocks:
        if len(b.text) <= target:
            yield b
            continue
        piece = ""
        first = True
        for sentence in _SENTENCE_END.split(b.text):
            while len(sentence) > target:  # one enormous sentence: cut at a space
                cut = sentence.rfind(" ", 0, target)
                cut = cut if cut > 0 else target
                if piece:
                    yield _Block(b.start, b.end, b.heading, piece, b.starts_section and first)
                    first, piece = False, ""
                yield _Block(b.start, b.end, b.heading, sentence[:cut].strip(), b.starts_section and first)
                first = False
                sentence = sentence[cut:].strip()
            if piece and len(piece) + 1 + len(sentence) > target:
                yield _Block(b.start, b.end, b.heading, piece, b.starts_section and first)
                first, piece = False, ""
            piece = f"{piece} {sentence}".strip() if piece else sentence
        if piece:
            yield _Block(b.start, b.end, b.heading, piece, b.starts_section and first)
