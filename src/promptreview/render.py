"""Render untrusted prompt templates (Jinja2) and GitHub Models placeholders.

Templates come from pull requests, so rendering one must never run code, read a file outside the
repository, leak the environment, or take the review down with it. Four layers, each covering what
the previous one cannot:

1. **Jinja's immutable sandbox** (``ImmutableSandboxedEnvironment``): no ``_private`` or internal
   attributes, no mutation of lists/dicts, sandboxed ``str.format``. We add: a strict undefined (a
   missing variable is an error naming it, and cannot even be ``repr``'d into a list), a context
   holding only the case values (converted to plain ``dict``/``list``/scalars, so no object with
   methods reaches a template), only harmless globals (``range`` capped at 100,000 items, ``dict``
   as a function, ``namespace``, ``cycler``, ``joiner``; no ``lipsum``), no attribute access on
   classes or functions at all, and size checks on ``*`` and ``**`` so ``'a' * 10**10``,
   ``10 ** (10 ** 8)`` and repeated squaring fail at once with a reason.
2. **Includes confined to the repository.** ``{% include/import/extends %}`` names are repo-relative
   POSIX paths, looked up first relative to the directory of the template that contains the
   statement, then from the repository root (so ``partials/x.j2`` in ``prompts/a.j2`` means
   ``prompts/partials/x.j2`` if that exists, else ``partials/x.j2``). Absolute paths, ``..``,
   backslashes, control characters and anything inside ``.git`` are refused with a reason, before
   ``read_file`` is ever called. (``..`` is refused even when it would stay inside the repository:
   one simple rule is easier to trust, and a root-relative name always works instead.) ``read_file``
   itself must read from a git revision or otherwise not follow symlinks out of the repository.
3. **A worker process** forked from this one (``multiprocessing`` "fork" context: no re-import, so
   starting it costs one ``fork``, about 10 ms) does all compiling and rendering. It runs under
   ``RLIMIT_AS`` (``max_memory`` above what it inherited), a per-render wall-clock timer
   (``setitimer`` + ``SIGALRM`` raising inside the render, so a slow case fails only itself), an
   output-size limit checked while the output streams, and Python's recursion limit (recursive
   includes and macros end in ``RecursionError``, reported as such). Compiling happens there too,
   under the same limits, because Jinja's compiler constant-folds (``'x' | center(10**9)`` would
   allocate a gigabyte at compile time). On start it sheds what it inherited: other file
   descriptors are closed (a forked copy would keep the parent's connections open), ``os.environ``
   is emptied, the parent's signal handling is dropped, and inherited objects are frozen for the
   garbage collector (else its first full collection copies the parent's whole heap).
4. **A watchdog in the parent.** The worker acknowledges each batch, then streams results back one
   per job. If none arrives within the render timeout plus a grace period (a C-level operation the
   timer cannot interrupt, a deadlock) or the worker dies (segfault, the kernel's OOM killer), the
   parent kills it, fails only the job that was in flight, starts a fresh worker and sends it the
   rest of the batch. A worker that dies before acknowledging a batch fails no job: the batch is
   sent again (three attempts).

The worker never calls back into the parent: before a batch is sent, the parent collects every
template the batch's sources reference (transitively, by parsing, see :func:`referenced_templates`)
through ``read_file`` and ships their sources with the batch. An include the parent could not
collect (missing file, computed name) fails at render time only if it is actually reached.

Limitations worth knowing. The worker is a *resource* boundary, not a privilege boundary: it runs
as the same user with a copy of the parent's memory, so keeping templates from running code at all
is the sandbox's job (layer 1). The memory limit caps the worker's address-space growth over what
it inherited at fork time, on Linux; where ``RLIMIT_AS`` is unsupported only the timer and the
watchdog apply. The parent still parses templates (Jinja's parser executes nothing; sources over
``MAX_TEMPLATE_CHARS`` are refused) to find includes. ``fork`` is POSIX-only; CPython resets the
import lock in the child and the worker builds its own Jinja environment, so a lock another parent
thread held at fork time cannot block it (Python 3.12+ still warns about forking with threads).
"""

from __future__ import annotations

import contextlib
import gc
import math
import multiprocessing
import multiprocessing.connection
import os
import re
import resource
import select
import signal
import threading
import types
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import jinja2
import jinja2.debug  # imported lazily by Jinja on the first error; import it before forking
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

__all__ = [
    "RenderJob",
    "RenderOutcome",
    "Renderer",
    "TemplateRefs",
    "check_template",
    "go_format",
    "referenced_templates",
    "render_gh_models",
]

#: Templates larger than this are not parsed or rendered (prompts are far smaller).
MAX_TEMPLATE_CHARS = 1_000_000
#: How many templates one prompt may pull in through includes, imports and extends.
MAX_REFERENCED_TEMPLATES = 500
#: Largest integer a template may compute with ``*`` or ``**`` (in bits); beyond, a CPU bomb.
_MAX_INT_BITS = 100_000
#: Deepest nesting of lists/dicts accepted in a render context.
_MAX_CONTEXT_DEPTH = 100
#: Compiled templates the worker keeps (keyed by path and source).
_COMPILED_CACHE_SIZE = 512
_MAX_PATH_CHARS = 1024
_ERROR_CHARS = 500


# --------------------------------------------------------------------------------------------
# Public values


@dataclass(frozen=True)
class RenderJob:
    """One render: ``source`` is the template text; ``template_path`` is the repo path it came
    from, used as the base for relative includes and in error messages (for a chat file it is the
    chat file's path). ``context`` holds the variables the template may see, and nothing else.

    Line numbers in errors count from the start of ``source``: for a snippet taken from inside a
    file (a chat message, a metric argument) they are lines of the snippet, not of the file.
    """

    key: str
    source: str
    template_path: str
    context: Mapping[str, Any]


@dataclass(frozen=True)
class RenderOutcome:
    """The result of one :class:`RenderJob`: exactly one of ``text`` and ``error`` is set.

    ``error`` is one line naming file and line when known, e.g.
    ``prompts/a.j2 line 3: 'product' is undefined``; never a traceback.
    """

    key: str
    text: str | None
    error: str | None


class TemplateRefs(set[str]):
    """Result of :func:`referenced_templates`: repo paths a template depends on, plus what could
    not be resolved.

    The set holds every path found through include/import/extends (transitively) and, for a name
    that was found nowhere, every path it was looked for at. ``missing`` lists all paths looked for
    that do not exist at this revision, including ones that would shadow a path that was found
    (``partials/x.j2`` found at the root, ``prompts/partials/x.j2`` absent): a planner that wants to
    notice a pull request *adding* such a file can check those too. ``problems`` are one-line
    notes (computed names, refused paths, syntax errors, missing templates); ``errors`` is the
    subset that is wrong with the templates themselves (everything but missing files and computed
    names). ``dynamic`` is true when a computed name was seen, so the set may be incomplete.
    """

    missing: frozenset[str]
    problems: tuple[str, ...]
    errors: tuple[str, ...]
    dynamic: bool

    def __init__(
        self,
        paths: Iterable[str] = (),
        *,
        missing: Iterable[str] = (),
        problems: Iterable[str] = (),
        errors: Iterable[str] = (),
        dynamic: bool = False,
    ) -> None:
        super().__init__(paths)
        self.missing = frozenset(missing)
        self.problems = tuple(problems)
        self.errors = tuple(errors)
        self.dynamic = dynamic


# --------------------------------------------------------------------------------------------
# Include paths


class _RefusedPath(ValueError):
    """An include name that could point outside the repository (message says why)."""


def _clean_path(path: str) -> str:
    """Normalise a repo-relative POSIX path or raise :class:`_RefusedPath` saying why not."""
    if not path:
        raise _RefusedPath("the path is empty")
    if len(path) > _MAX_PATH_CHARS:
        raise _RefusedPath(f"the path is longer than {_MAX_PATH_CHARS} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise _RefusedPath("the path contains control characters")
    if "\\" in path:
        raise _RefusedPath("backslashes are not allowed (use '/')")
    if path.startswith("/") or re.match(r"[A-Za-z]:", path):
        raise _RefusedPath("absolute paths are not allowed; use a path inside the repository")
    parts: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            raise _RefusedPath("'..' is not allowed; write the path from the repository root instead")
        # ".git." and "GIT~1" are how Windows spells ".git"; a filesystem-backed read_file there
        # would otherwise expose .git/config (which can hold the workflow's token).
        if segment.rstrip(". ").casefold() in (".git", "git~1"):
            raise _RefusedPath("files inside .git are not allowed")
        parts.append(segment)
    if not parts:
        raise _RefusedPath("the path names no file")
    return "/".join(parts)


def _include_candidates(name: object, including: str | None) -> tuple[str, ...]:
    """Repo paths an include name may mean, in lookup order (see the module docstring)."""
    if not isinstance(name, str):
        raise _RefusedPath(f"template names must be strings, not {type(name).__name__}")
    root = _clean_path(name)
    directory = including.rpartition("/")[0] if including else ""
    if directory:
        try:
            relative = _clean_path(f"{directory}/{name}")
        except _RefusedPath:
            relative = root  # an odd including path never widens what can be reached
        if relative != root:
            return (relative, root)
    return (root,)


# --------------------------------------------------------------------------------------------
# The sandbox


def _make_dict(*args: Any, **kwargs: Any) -> dict[Any, Any]:
    """Jinja's ``dict()`` global without handing templates the ``dict`` type itself
    (``dict.update(some_context_dict, ...)`` would otherwise mutate shared values)."""
    return dict(*args, **kwargs)


class _StrictUndefined(jinja2.StrictUndefined):
    """``StrictUndefined`` that also refuses ``repr()``, so an undefined value cannot slip into
    the output inside a list (``{{ [missing] }}``, ``map(attribute='__class__') | list``)."""

    __slots__ = ()
    __repr__ = jinja2.StrictUndefined._fail_with_undefined_error


_PRINTABLE = (str, int, float, bool, type(None), range)


def _printable(value: Any) -> Any:
    """What ``{{ }}`` may print: values, never objects (``{{ ''.upper }}``, ``{{ cycler(1) }}``),
    whose repr would put a memory address and internals into the prompt."""
    if isinstance(value, (_PRINTABLE, jinja2.Undefined)) or _plain_data(value, 0):
        return value
    raise SecurityError(
        f"`{{{{ }}}}` would print a {type(value).__name__} object, not a value (a method or helper "
        "that was not called?)"
    )


def _plain_data(value: Any, depth: int) -> bool:
    if isinstance(value, _PRINTABLE):
        return True
    if depth > 20:
        return False
    if isinstance(value, (list, tuple)):
        return all(_plain_data(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(_plain_data(k, depth + 1) and _plain_data(v, depth + 1) for k, v in value.items())
    return False


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, tightened for untrusted prompts (see the module docstring)."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, loader: _BatchLoader | None = None, *, max_size: int = 200_000) -> None:
        super().__init__(
            loader=loader,
            undefined=_StrictUndefined,
            autoescape=False,
            # What the file says is what is sent: a template with no Jinja syntax renders to
            # exactly its own text, final newline included.
            keep_trailing_newline=True,
            auto_reload=True,
            cache_size=400,
            finalize=_printable,
        )
        self.max_size = max_size
        self.batch_loader = loader
        # Only harmless helpers; no lipsum (a CPU toy), and no classes handed out as values.
        self.globals.clear()
        self.globals.update(
            range=jinja2.sandbox.safe_range,
            dict=_make_dict,
            namespace=jinja2.utils.Namespace,
            cycler=jinja2.utils.Cycler,
            joiner=jinja2.utils.Joiner,
        )

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        """No attributes of classes or functions at all (``cycler.__init__``, ``dict.fromkeys``,
        ``range.__self__``...): templates have no business there."""
        if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType)):
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse ``*`` and ``**`` results that would be huge, before computing them."""
        if operator == "*":
            count, seq = (right, left) if isinstance(left, (str, list, tuple)) else (left, right)
            if (
                isinstance(seq, (str, list, tuple))
                and isinstance(count, int)
                and len(seq) * count > self.max_size
            ):
                raise SecurityError(
                    f"'*' would build a result of {len(seq) * count:,} items; the limit is {self.max_size:,}"
                )
            # Repeated squaring of big integers is a CPU bomb inside one C call, which the timer
            # cannot interrupt.
            if (
                type(left) is int
                and type(right) is int
                and left.bit_length() + right.bit_length() > _MAX_INT_BITS
            ):
                raise SecurityError(
                    f"'*' would compute a number of about {left.bit_length() + right.bit_length():,} bits"
                )
        elif (
            operator == "**"
            and type(left) is int
            and type(right) is int
            and abs(left) > 1
            and right > 0
            and left.bit_length() * right > _MAX_INT_BITS
        ):
            raise SecurityError(f"'**' would compute a number of about {left.bit_length() * right:,} bits")
        return super().call_binop(context, operator, left, right)

    def join_path(self, template: str, parent: str) -> str:
        """Resolve an include name against the including template (``parent``) and the batch."""
        try:
            candidates = _include_candidates(template, parent)
        except _RefusedPath as exc:
            raise SecurityError(f"include {_show(template)} refused: {exc}") from None
        available = self.batch_loader.sources if self.batch_loader is not None else {}
        for path in candidates:
            if path in available:
                return path
        # select_template() calls join_path outside its try block, so not-found must surface from
        # the loader, not here; remember what we looked for so its message can say so.
        if self.batch_loader is not None:
            self.batch_loader.looked_for[candidates[0]] = (template, candidates)
        return candidates[0]


class _BatchLoader(jinja2.BaseLoader):
    """Serves the template sources shipped with the current batch, and nothing else."""

    def __init__(self) -> None:
        self.sources: dict[str, str] = {}
        self.looked_for: dict[str, tuple[str, tuple[str, ...]]] = {}

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source = self.sources.get(template)
        if source is None:
            name, candidates = self.looked_for.get(template, (template, (template,)))
            raise jinja2.TemplateNotFound(
                template, message=f"template {_show(name)} not found (looked for {', '.join(candidates)})"
            )
        sources = self
        return source, template, lambda: sources.sources.get(template) == source


_PARSER = _Sandbox()  # parses only (to find includes); never renders


# --------------------------------------------------------------------------------------------
# Finding referenced templates (runs in the parent: parsing executes nothing)


@dataclass(frozen=True)
class _Collected:
    sources: dict[str, str]
    refs: TemplateRefs


def referenced_templates(
    source: str, template_path: str, read_file: Callable[[str], str | None]
) -> TemplateRefs:
    """Every repo path ``source`` (from ``template_path``) includes, imports or extends, transitively.

    Works on parsed ASTs, with the rules of ``jinja2.meta.find_referenced_templates`` (plus line
    numbers); nothing is rendered, compiled or executed. Computed names (``{% include
    vars.partial %}``) cannot be known this way: they are reported in ``problems`` and set
    ``dynamic``, never evaluated. Refused names (``..``, absolute paths) are reported and never
    passed to ``read_file``. Returns a :class:`TemplateRefs` (a ``set[str]``); see there.
    """
    return _collect(source, template_path, read_file).refs


def check_template(source: str, template_path: str, read_file: Callable[[str], str | None]) -> str | None:
    """The first thing wrong with a template and the partials it pulls in, or ``None``.

    For ``promptreview validate``: syntax errors, unknown filters and tests, refused include
    paths, all with file and line, found by parsing only (Jinja's compiler would constant-fold
    expressions such as ``'x' | center(10**9)``, so it only ever runs in the sandboxed worker).
    Missing partials are not reported here; :func:`referenced_templates` lists them.
    """
    collected = _collect(source, template_path, read_file)
    errors = collected.refs.errors
    return errors[0] if errors else None


class _TooManyTemplates(Exception):
    pass


def _collect(source: str, template_path: str, read_file: Callable[[str], str | None]) -> _Collected:
    """Breadth-first walk of the include graph, reading each path at most once."""
    found: dict[str, str] = {}
    missing: set[str] = set()
    paths: set[str] = set()
    problems: list[str] = []
    errors: list[str] = []
    dynamic = False

    def error(message: str) -> None:
        problems.append(message)
        errors.append(message)

    def read(path: str) -> str | None:
        if path not in found and path not in missing:
            if len(found) >= MAX_REFERENCED_TEMPLATES:
                raise _TooManyTemplates
            content = read_file(path)
            if content is None:
                missing.add(path)
            else:
                found[path] = content
        return found.get(path)

    queue: deque[tuple[str, str]] = deque([(source, template_path)])
    queued: set[str] = set()
    try:
        while queue:
            text, path = queue.popleft()
            for name, line in _references(text, path, error):
                where = f"{path} line {line}"
                if name is None:
                    dynamic = True
                    problems.append(f"{where}: the template name is computed, so it cannot be followed")
                    continue
                try:
                    candidates = _include_candidates(name, path)
                except _RefusedPath as exc:
                    error(f"{where}: template {_show(name)} refused: {exc}")
                    continue
                resolved = next((c for c in candidates if read(c) is not None), None)
                if resolved is None:
                    paths.update(candidates)
                    problems.append(
                        f"{where}: template {_show(name)} not found (looked for {', '.join(candidates)})"
                    )
                    continue
                paths.add(resolved)
                if resolved not in queued:
                    queued.add(resolved)
                    queue.append((found[resolved], resolved))
    except _TooManyTemplates:
        error(
            f"{template_path}: more than {MAX_REFERENCED_TEMPLATES} templates are referenced; stopped there"
        )
    refs = TemplateRefs(paths, missing=missing, problems=problems, errors=errors, dynamic=dynamic)
    return _Collected(found, refs)


_REFERENCE_NODES = (nodes.Extends, nodes.FromImport, nodes.Import, nodes.Include)


def _references(source: str, path: str, error: Callable[[str], None]) -> list[tuple[str | None, int]]:
    """``(name, line)`` for each template name in ``source``; ``None`` for a computed name.

    Also reports syntax errors and unknown filters/tests through ``error``.
    """
    if len(source) > MAX_TEMPLATE_CHARS:
        error(f"{path}: template is larger than {MAX_TEMPLATE_CHARS:,} characters")
        return []
    try:
        ast = _PARSER.parse(source, path, path)
        for node in ast.find_all((nodes.Filter, nodes.Test)):
            is_filter = isinstance(node, nodes.Filter)
            if node.name not in (_PARSER.filters if is_filter else _PARSER.tests):
                error(
                    f"{path} line {node.lineno}: no {'filter' if is_filter else 'test'} named {node.name!r}"
                )
        return [
            (name, node.lineno)
            for node in ast.find_all(_REFERENCE_NODES)
            for name in _names_of(node.template)
        ]
    except jinja2.TemplateSyntaxError as exc:
        error(_syntax_message(exc, path))
    except RecursionError:
        error(f"{path}: template is nested too deeply to parse")
    return []


def _names_of(template: nodes.Expr) -> list[str | None]:
    """Template names in one statement, by ``jinja2.meta.find_referenced_templates``' rules:
    string constants (or lists of them) are names, anything computed is ``None``."""
    if isinstance(template, nodes.Const):
        value = template.value
        if isinstance(value, str):
            return [value]
        if isinstance(value, (list, tuple)):
            return [v for v in value if isinstance(v, str)]
        return [None]
    if isinstance(template, (nodes.List, nodes.Tuple)):
        return [
            item.value if isinstance(item, nodes.Const) else None
            for item in template.items
            if not isinstance(item, nodes.Const) or isinstance(item.value, str)
        ]
    return [None]


# --------------------------------------------------------------------------------------------
# The worker process


class _RenderTimeout(BaseException):
    """Raised by SIGALRM inside a render. A BaseException, so no ``except Exception`` swallows it."""


class _OutputTooLarge(Exception):
    pass


_ACK = "batch received"


@dataclass(frozen=True)
class _Limits:
    timeout_s: float
    max_output: int
    max_memory: int


class _Worker:
    """Lives in the child process: compiles (cached) and renders jobs one at a time."""

    def __init__(self, limits: _Limits) -> None:
        self.limits = limits
        self.loader = _BatchLoader()
        self.env = _Sandbox(self.loader, max_size=limits.max_output)
        self.compiled: OrderedDict[tuple[str, str], jinja2.Template | str] = OrderedDict()
        self.armed = False

    def serve(self, conn: multiprocessing.connection.Connection) -> None:
        """Answer batches until the parent says stop (``None``) or goes away."""
        signal.signal(signal.SIGALRM, self._on_alarm)
        try:
            while (message := conn.recv()) is not None:
                conn.send(_ACK)  # the parent now knows the batch arrived: a crash is a job's
                sources, jobs = message
                self.loader.sources = sources
                self.loader.looked_for = {}
                for index, source, path, context in jobs:
                    text, error = self.render(source, path, context)
                    conn.send((index, text, error))
        except (EOFError, OSError):
            return

    def _on_alarm(self, signum: int, frame: types.FrameType | None) -> None:
        if self.armed:  # a late signal after the render finished must not hit the send loop
            raise _RenderTimeout

    def render(self, source: str, path: str, context: dict[str, Any]) -> tuple[str | None, str | None]:
        try:
            self.armed = True
            signal.setitimer(signal.ITIMER_REAL, self.limits.timeout_s)
            try:
                template = self._compile(source, path)
                if isinstance(template, str):
                    return None, template
                return self._generate(template, context), None
            finally:
                self.armed = False
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _RenderTimeout as exc:
            where = _where(exc, {path, *self.loader.sources}) or path
            return None, f"{where}: rendering took longer than {self.limits.timeout_s:g} s and was stopped"
        except Exception as exc:
            return None, _describe(exc, path, {path, *self.loader.sources}, self.limits)

    def _compile(self, source: str, path: str) -> jinja2.Template | str:
        """The compiled template, or the error message its compilation gave (both cached)."""
        key = (path, source)
        cached = self.compiled.get(key)
        if cached is not None:
            self.compiled.move_to_end(key)
            return cached
        result: jinja2.Template | str
        try:
            code = self.env.compile(source, name=path, filename=path)
            result = self.env.template_class.from_code(self.env, code, self.env.make_globals(None), None)
        except jinja2.TemplateSyntaxError as exc:
            result = _describe(exc, path, {path}, self.limits)
        except RecursionError:
            result = f"{path}: template is nested too deeply to compile"
        self.compiled[key] = result
        if len(self.compiled) > _COMPILED_CACHE_SIZE:
            self.compiled.popitem(last=False)
        return result

    def _generate(self, template: jinja2.Template, context: dict[str, Any]) -> str:
        """Render while counting: stop as soon as the output passes the limit."""
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(context):
            size += len(chunk)
            if size > self.limits.max_output:
                raise _OutputTooLarge
            chunks.append(chunk)
        text = "".join(chunks)
        leak = _ADDRESS_REPR.search(text)
        if leak is not None and not _given(leak.group(0), context, 0):
            # ``|string`` and ``~`` stringify inside Jinja, past ``finalize``: the repr is caught here.
            raise SecurityError(
                "the template printed an object's internal representation (with a memory address), "
                "not a value (a method or helper that was not called?)"
            )
        return text


# An object's default repr, ``<built-in method upper of str object at 0x7f...>``.
_ADDRESS_REPR = re.compile(r"<[^<>\n]{1,200} at 0x[0-9a-fA-F]{4,}>")


def _given(text: str, value: Any, depth: int) -> bool:
    """Whether a case value itself holds ``text`` (a case about Python may quote a repr)."""
    if isinstance(value, str):
        return text in value
    if depth > 20:
        return False
    if isinstance(value, dict):
        return any(_given(text, v, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_given(text, v, depth + 1) for v in value)
    return False


def _worker_main(
    conn: multiprocessing.connection.Connection,
    parent_end: multiprocessing.connection.Connection,
    limits: _Limits,
) -> None:
    """Entry point of the forked worker: shed what it inherited, then serve."""
    parent_end.close()  # so the parent sees EOF when this process dies
    _close_inherited_fds(keep=conn.fileno())
    # Templates need no environment variables. This only empties os.environ (the worker still
    # holds a copy of the parent's memory): it is hardening, not a boundary; the sandbox is that.
    os.environ.clear()
    # The parent's Python signal handlers (an asyncio loop's, say) are not ours to run.
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Everything inherited is the parent's; without this the worker's first full collection
    # walks (and so copies, page by page) the parent's whole heap: hundreds of ms in a big CLI.
    gc.freeze()
    _limit_memory(limits.max_memory)
    _Worker(limits).serve(conn)


def _close_inherited_fds(keep: int) -> None:
    """Close the parent's sockets and files in the worker, so a connection the parent closes is
    really closed (a forked copy would keep it open) and the worker holds nothing it does not use."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return  # not Linux: keep them, harmlessly
    for fd in fds:
        if fd > 2 and fd != keep:
            with contextlib.suppress(OSError):
                os.close(fd)


def _limit_memory(headroom: int) -> None:
    """Cap the address space at what we inherited plus ``headroom`` (Linux; best effort elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            inherited = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        inherited = 0
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = inherited + headroom
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        pass


def _where(exc: BaseException, files: set[str]) -> str | None:
    """``file line N`` of the innermost template frame in the traceback, if any.

    Jinja rewrites tracebacks of errors raised while rendering so their frames carry the template
    file and line; frames it has not rewritten (a timeout) still point into the compiled template,
    whose ``__jinja_template__`` maps Python lines back to template lines.
    """
    where = None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        template = frame.f_globals.get("__jinja_template__")
        if template is not None and template.filename:
            where = f"{template.filename} line {template.get_corresponding_lineno(tb.tb_lineno)}"
        elif frame.f_code.co_filename in files:
            where = f"{frame.f_code.co_filename} line {tb.tb_lineno}"
        tb = tb.tb_next
    return where


def _describe(exc: BaseException, path: str, files: set[str], limits: _Limits) -> str:
    """One line for a failed render: where, then what. Never a traceback."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return _syntax_message(exc, path)
    where = _where(exc, files) or path
    if isinstance(exc, _OutputTooLarge):
        what = f"output is larger than {limits.max_output:,} characters"
    elif isinstance(exc, MemoryError):
        what = f"ran out of memory (the limit is {limits.max_memory / 2**20:g} MB)"
    elif isinstance(exc, RecursionError):
        what = "recursion too deep (does a template include itself, or a macro call itself without end?)"
    elif isinstance(exc, jinja2.TemplateError):
        what = exc.message or type(exc).__name__
    else:
        what = f"{type(exc).__name__}: {exc}"
    return _cap(f"{where}: {_one_line(what)}")


def _syntax_message(exc: jinja2.TemplateSyntaxError, path: str) -> str:
    where = exc.filename or exc.name or path
    # TemplateAssertionError (unknown filter...) subclasses TemplateSyntaxError; it is no typo.
    kind = "syntax error: " if type(exc) is jinja2.TemplateSyntaxError else ""
    return _cap(f"{where} line {exc.lineno}: {kind}{_one_line(exc.message or '')}")


# --------------------------------------------------------------------------------------------
# The parent side


class Renderer:
    """Renders batches of jobs in a sandboxed worker process; see the module docstring.

    ``read_file(path)`` returns a repo file's text at the revision being rendered, or ``None`` when
    it does not exist; results are cached for the life of the renderer, so use one renderer per
    revision. An exception from ``read_file`` propagates: it is a failure of the review's own
    plumbing, not of a template. Concurrent ``render_many`` calls are serialised by a lock.
    """

    def __init__(
        self,
        read_file: Callable[[str], str | None],
        *,
        timeout_s: float = 2.0,
        max_output: int = 200_000,
        max_memory: int = 256 * 2**20,
    ) -> None:
        if not (timeout_s > 0 and max_output > 0 and max_memory > 0):
            raise ValueError("timeout_s, max_output and max_memory must be positive")
        self._read_file = read_file
        self._limits = _Limits(timeout_s=timeout_s, max_output=max_output, max_memory=max_memory)
        # Time a worker may go silent before the watchdog kills it: the render timer plus slack for
        # the timer's own unwinding and for pickling a big result.
        self._watchdog_s = timeout_s * 1.5 + 0.5
        self._files: dict[str, str | None] = {}
        self._collected: dict[tuple[str, str], _Collected] = {}
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._simple: dict[str, tuple[str | tuple[str, ...], ...] | None] = {}

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker. The renderer cannot be used afterwards."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                with contextlib.suppress(OSError):
                    self._conn.send(None)
            self._stop_worker(grace_s=1.0)

    def render_many(self, jobs: Sequence[RenderJob]) -> list[RenderOutcome]:
        """Render every job; one outcome per job, in order. One failing job fails only itself."""
        with self._lock:
            if self._closed:
                raise RuntimeError("Renderer is closed")
            outcomes: list[RenderOutcome | None] = [None] * len(jobs)
            sources: dict[str, str] = {}
            pending: list[tuple[int, str, str, dict[str, Any]]] = []
            for index, job in enumerate(jobs):
                if len(job.source) > MAX_TEMPLATE_CHARS:
                    outcomes[index] = RenderOutcome(
                        job.key,
                        None,
                        f"{job.template_path}: template is larger than {MAX_TEMPLATE_CHARS:,} characters",
                    )
                    continue
                try:
                    context = _plain_context(job.context)
                except _ContextError as exc:
                    outcomes[index] = RenderOutcome(job.key, None, f"{job.template_path}: {exc}")
                    continue
                text = self._render_simple(job.source, context)
                if text is not None:
                    outcomes[index] = RenderOutcome(job.key, text, None)
                    continue
                sources.update(self._collect(job.source, job.template_path).sources)
                pending.append((index, job.source, job.template_path, context))
            for index, text, error in self._run(sources, pending):
                outcomes[index] = RenderOutcome(jobs[index].key, text, error)
            assert all(outcome is not None for outcome in outcomes)
            return outcomes  # type: ignore[return-value]

    def _render_simple(self, source: str, context: Mapping[str, Any]) -> str | None:
        """Render a template that only substitutes values, here, without the worker; else None.

        Most prompts and templated metric arguments are plain text with ``{{ name }}`` or
        ``{{ vars.x }}`` lookups. Such a template runs no code, loops nowhere and can only copy
        case values (already in memory), so it needs none of the worker's limits; skipping the
        round trip keeps a fully cached 400-case run fast. Anything else — filters, calls, tags,
        a lookup that is not a plain value — goes to the sandboxed worker, which also produces
        the exact error messages. A template is parsed once per renderer, into text pieces and
        key paths (``vars.x`` is ``("vars", "x")``), so a case costs only its dict lookups.
        """
        parts = self._simple.get(source, _UNSEEN)
        if parts is _UNSEEN:
            parts = self._simple[source] = _substitution_only(source)
        if parts is None:
            return None
        out: list[str] = []
        size = 0
        limit = self._limits.max_output
        for part in parts:  # type: ignore[union-attr]
            if part.__class__ is str:
                piece = part
            else:
                value: Any = context
                for key in part:
                    if value.__class__ is not dict and not isinstance(value, dict):
                        return None
                    if key not in value:
                        return None
                    value = value[key]
                if not isinstance(value, _PLAIN_OR_DICT):
                    return None
                piece = str(value)
            size += len(piece)
            if size > limit:
                return None
            out.append(piece)
        return "".join(out)

    def _collect(self, source: str, template_path: str) -> _Collected:
        key = (template_path, source)
        collected = self._collected.get(key)
        if collected is None:
            collected = _collect(source, template_path, self._read_cached)
            self._collected[key] = collected
        return collected

    def _read_cached(self, path: str) -> str | None:
        if path not in self._files:
            self._files[path] = self._read_file(path)
        return self._files[path]

    def _run(
        self, sources: dict[str, str], pending: list[tuple[int, str, str, dict[str, Any]]]
    ) -> list[tuple[int, str | None, str | None]]:
        """Send the batch, stream results back; on a crash or hang fail the job in flight only."""
        results: list[tuple[int, str | None, str | None]] = []
        attempts = 0
        try:
            while pending:
                try:
                    conn = self._start_batch(sources, pending)
                except (OSError, EOFError, ValueError) as exc:
                    # Before the worker acknowledged the batch, its death is no job's fault (it
                    # may have died between batches): retry with a fresh one.
                    self._stop_worker()
                    attempts += 1
                    if attempts >= 3:
                        reason = f"the template renderer could not be started ({exc})"
                        results.extend((index, None, f"{path}: {reason}") for index, _, path, _ in pending)
                        break
                    continue
                pending = pending[self._receive(conn, pending, results) :]
        except BaseException:
            # Interrupted mid-batch (Ctrl-C): the pipe still holds answers nobody will read, and
            # the next batch must not read them as its own.
            self._stop_worker()
            raise
        return results

    def _start_batch(
        self, sources: dict[str, str], pending: list[tuple[int, str, str, dict[str, Any]]]
    ) -> multiprocessing.connection.Connection:
        conn = self._ensure_worker()
        conn.send((sources, pending))
        if not conn.poll(self._watchdog_s) or conn.recv() != _ACK:
            raise OSError("the renderer did not acknowledge the batch")
        return conn

    def _receive(
        self,
        conn: multiprocessing.connection.Connection,
        pending: list[tuple[int, str, str, dict[str, Any]]],
        results: list[tuple[int, str | None, str | None]],
    ) -> int:
        """Collect results in order. Returns how many jobs are settled: all of them, or up to and
        including the one in flight when the worker hung or died (then it is stopped)."""
        # One poll object per batch: multiprocessing's own poll() builds a selector per call.
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        watchdog_ms = int(self._watchdog_s * 1000)
        for done, (index, _, path, _) in enumerate(pending):
            if not poller.poll(watchdog_ms):
                failure = (
                    f"rendering did not finish within {self._watchdog_s:g} s and was stopped"
                    " (the renderer was restarted)"
                )
            else:
                try:
                    result = conn.recv()
                except (EOFError, OSError):
                    failure = self._crash_reason()
                else:
                    if isinstance(result, tuple) and result[0] == index:
                        results.append(result)
                        continue
                    failure = "the renderer answered out of turn and was restarted"
            self._stop_worker()
            results.append((index, None, f"{path}: {failure}"))
            return done + 1
        return len(pending)

    def _crash_reason(self) -> str:
        process = self._process
        if process is not None:
            process.join(timeout=1.0)
            code = process.exitcode
            if code == -signal.SIGKILL:
                return (
                    "the renderer was killed (out of memory?) while rendering this template; it was restarted"
                )
            if code is not None and code < 0:
                return (
                    f"the renderer crashed (signal {-code}) while rendering this template; it was restarted"
                )
        return "the renderer stopped unexpectedly while rendering this template; it was restarted"

    def _ensure_worker(self) -> multiprocessing.connection.Connection:
        if self._process is not None and self._conn is not None and self._process.is_alive():
            return self._conn
        self._stop_worker()
        context = multiprocessing.get_context("fork")
        parent_end, child_end = context.Pipe(duplex=True)
        process = context.Process(
            target=_worker_main,
            args=(child_end, parent_end, self._limits),
            name="promptreview-render",
            daemon=True,
        )
        try:
            process.start()
        finally:
            child_end.close()
        self._process, self._conn = process, parent_end
        return parent_end

    def _stop_worker(self, grace_s: float = 0.0) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if process is not None:
            if grace_s:
                process.join(timeout=grace_s)
            if process.is_alive():
                process.kill()
            process.join(timeout=5.0)
        if conn is not None:
            conn.close()

    @property
    def worker_pid(self) -> int | None:
        """PID of the current worker process, if one is running (for diagnostics and tests)."""
        return self._process.pid if self._process is not None else None


_PLAIN_VALUES = (str, int, float, bool, type(None))


_PLAIN_OR_DICT = (*_PLAIN_VALUES, dict)
_UNSEEN = object()


def _substitution_only(source: str) -> tuple[str | tuple[str, ...], ...] | None:
    """The output parts of a template made only of text and variable lookups, or None.

    Each part is its text (a ``str``) or the key path of a lookup (a ``tuple``: ``vars.x`` and
    ``vars["x"]`` are both ``("vars", "x")``). Parsing runs no template code (the planner parses
    every template already).
    """
    try:
        tree = _Sandbox().parse(source)
    except Exception:  # the worker reports syntax errors, with their lines
        return None
    parts: list[str | tuple[str, ...]] = []
    for stmt in tree.body:
        if not isinstance(stmt, nodes.Output):
            return None
        for node in stmt.nodes:
            if isinstance(node, nodes.TemplateData):
                parts.append(node.data)
                continue
            path = _lookup_path(node)
            if path is None:
                return None
            parts.append(path)
    return tuple(parts)


def _lookup_path(node: nodes.Node) -> tuple[str, ...] | None:
    """``("vars", "x")`` for ``vars.x`` or ``vars["x"]``; None for anything that is not a plain lookup."""
    keys: list[str] = []
    while True:
        if isinstance(node, nodes.Name):
            if node.ctx != "load":
                return None
            keys.append(node.name)
            return tuple(reversed(keys))
        if isinstance(node, nodes.Getattr):
            keys.append(node.attr)
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(
            node.arg.value, str
        ):
            keys.append(node.arg.value)
        else:
            return None
        node = node.node


class _ContextError(ValueError):
    """A context value templates cannot be given; ``path`` is filled in while unwinding."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []

    def __str__(self) -> str:
        return f"context value {''.join(self.path) or '(top level)'} {self.problem}"


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``context`` made only of ``dict``, ``list`` and scalars.

    Templates then see data, never objects with methods (a ``YamlMap``'s ``.line`` would even
    shadow a key named ``line``), and every job gets its own copy.
    """
    if not isinstance(context, (dict, Mapping)):
        raise _ContextError("must be a mapping")
    plain = _plain(context, 0)
    assert isinstance(plain, dict)
    return plain


def _plain(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if depth >= _MAX_CONTEXT_DEPTH:
        raise _ContextError(f"is nested more than {_MAX_CONTEXT_DEPTH} levels deep")
    # ``dict`` first: most contexts are dicts (a YamlMap is one), and the Mapping ABC check is slow.
    if isinstance(value, (dict, Mapping)):
        result: dict[Any, Any] = {}
        for key, item in value.items():
            if type(key) in _SCALARS and type(item) in _SCALARS:
                result[key] = item  # the common case, without a call per value
                continue
            try:
                if type(key) not in _SCALARS:
                    raise _ContextError(f"has a key of type {type(key).__name__}")
                result[key] = _plain(item, depth + 1)
            except _ContextError as exc:
                exc.path.insert(0, f"[{key!r}]")
                raise
        return result
    if kind is list or kind is tuple or isinstance(value, (list, tuple)):
        items = []
        for index, item in enumerate(value):
            if type(item) in _SCALARS:
                items.append(item)
                continue
            try:
                items.append(_plain(item, depth + 1))
            except _ContextError as exc:
                exc.path.insert(0, f"[{index}]")
                raise
        return items
    for scalar in (bool, str, int, float):  # subclasses (an IntEnum, a str subclass) become plain
        if isinstance(value, scalar):
            return scalar(value)
    raise _ContextError(f"has type {kind.__name__}, which templates cannot use (only plain data)")


# --------------------------------------------------------------------------------------------
# GitHub Models placeholders


def render_gh_models(template: str, data: Mapping[str, Any]) -> str:
    """GitHub Models' templating, exactly as ``gh models eval`` does it (FORMAT.md §3).

    Plain substitution in one pass: every ``{{key}}`` (exact text, no spaces) for a key in
    ``data`` is replaced; unknown placeholders stay as written; non-strings are formatted like
    Go's ``%v``. gh-models substitutes key by key in random map order, so a value that itself
    contains ``{{other}}`` may or may not be expanded there; here it never is. Dates stay the
    strings :func:`~promptreview.safe_yaml.load_yaml` gives (gh-models prints them as
    ``2024-01-01 00:00:00 +0000 UTC``).
    """
    if not data:
        return template
    values = {
        "{{" + (key if isinstance(key, str) else go_format(key)) + "}}": value for key, value in data.items()
    }
    # Longest first, so a placeholder that contains another one wins at the same position.
    pattern = re.compile("|".join(re.escape(token) for token in sorted(values, key=len, reverse=True)))
    return pattern.sub(lambda m: go_format(values[m.group(0)]), template)


_GH_PLACEHOLDER = re.compile(r"\{\{([^{}\n]{1,200})\}\}")


def undefined_gh_models_placeholders(template: str, data: Mapping[str, Any]) -> list[str]:
    """Names in ``{{name}}`` placeholders that :func:`render_gh_models` would leave as written
    because ``data`` has no such key (each name once, in order of appearance)."""
    keys = {key if isinstance(key, str) else go_format(key) for key in data}
    names = dict.fromkeys(m.group(1) for m in _GH_PLACEHOLDER.finditer(template))
    return [name for name in names if name not in keys]


def go_format(value: Any) -> str:
    """Format a decoded YAML/JSON value like Go's ``fmt`` ``%v`` does for ``any``."""
    if isinstance(value, str):
        return value
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, Mapping):
        try:
            keys = sorted(value)  # Go prints maps with sorted keys
        except TypeError:
            keys = sorted(value, key=go_format)
        return "map[" + " ".join(f"{go_format(k)}:{go_format(value[k])}" for k in keys) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_format(item) for item in value) + "]"
    return str(value)


def _go_float(value: float) -> str:
    """Go's ``%v`` for a float64 (``strconv.FormatFloat(v, 'g', -1, 64)``): the shortest digits
    that round-trip, in exponent form when the decimal exponent is below -4 or at least 6
    (``1e+06``, ``1e-05``), plain otherwise (``0.0001``, ``123456``); ``+Inf``, ``-Inf``, ``NaN``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    # repr() gives the shortest digits that round-trip, which is also what Go picks.
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    assert isinstance(exponent, int)
    exponent += len(digit_tuple) - len(digits)
    point = len(digits) + exponent  # value = 0.DIGITS x 10**point
    exp = point - 1
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


# --------------------------------------------------------------------------------------------
# Small helpers


def _show(name: object) -> str:
    text = repr(name) if isinstance(name, str) else f"<{type(name).__name__}>"
    return text if len(text) <= 120 else text[:117] + "..."


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cap(text: str) -> str:
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 3] + "..."
