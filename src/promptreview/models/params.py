"""The request parameters a suite may set, and their bounds.

A suite's ``params`` (and a GitHub Models file's ``modelParameters``) may come from the pull
request under review, and they go into the body of every call. Left open, a PR could override
``model`` (cost is priced on the declared model, and the answers would come from another model
than the report names), replace ``messages``, ask for ``n: 128`` answers per call, or lift
``max_tokens`` to whatever the provider allows. So only known sampling parameters are accepted,
each within its documented range; ``model`` and ``messages`` never, and the client builds the
body so that nothing in ``params`` can replace them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

MAX_TOKENS = 32_768  # the largest output any mainstream chat model offers (gpt-4.1: 32,768)
MAX_STOP = 4  # OpenAI allows up to four stop sequences
MAX_STOP_CHARS = 200
REASONING_EFFORTS = ("minimal", "low", "medium", "high")
RESPONSE_FORMATS = ("text", "json_object", "json_schema")


class ParamError(ValueError):
    """A parameter that cannot be sent; ``key`` names it, the message says why and what is allowed."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


def _number(low: float, high: float) -> Callable[[str, Any], Any]:
    def check(key: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ParamError(key, f"`{key}` must be a number from {low:g} to {high:g}, not {value!r}")
        return value

    return check


def _whole(low: int, high: int) -> Callable[[str, Any], Any]:
    def check(key: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ParamError(key, f"`{key}` must be a whole number from {low:,} to {high:,}, not {value!r}")
        return value

    return check


def _stop(key: str, value: Any) -> Any:
    items = [value] if isinstance(value, str) else value
    if (
        not isinstance(items, list)
        or not 1 <= len(items) <= MAX_STOP
        or not all(isinstance(s, str) and 0 < len(s) <= MAX_STOP_CHARS for s in items)
    ):
        raise ParamError(
            key,
            f"`{key}` must be a string or a list of up to {MAX_STOP} strings "
            f"of at most {MAX_STOP_CHARS} characters",
        )
    return value


def _response_format(key: str, value: Any) -> Any:
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind not in RESPONSE_FORMATS or set(value) - {"type", "json_schema"}:
        raise ParamError(
            key, f"`{key}` must be {{type: text | json_object | json_schema}} (with `json_schema`)"
        )
    if kind == "json_schema" and not isinstance(value.get("json_schema"), Mapping):
        raise ParamError(key, f"`{key}` of type json_schema needs a `json_schema` mapping")
    return value


def _effort(key: str, value: Any) -> Any:
    if value not in REASONING_EFFORTS:
        raise ParamError(key, f"`{key}` must be one of {', '.join(REASONING_EFFORTS)}, not {value!r}")
    return value


SAMPLING: Mapping[str, Callable[[str, Any], Any]] = {
    "temperature": _number(0, 2),
    "top_p": _number(0, 1),
    "max_tokens": _whole(1, MAX_TOKENS),
    "max_completion_tokens": _whole(1, MAX_TOKENS),
    "presence_penalty": _number(-2, 2),
    "frequency_penalty": _number(-2, 2),
    "seed": _whole(-(2**63), 2**63 - 1),
    "stop": _stop,
    "response_format": _response_format,
    "reasoning_effort": _effort,
}
_NEVER = {
    "model": "`model` cannot be set in params: set the suite's `model:` (each side's config names its model)",
    "messages": "`messages` cannot be set in params: the messages come from the prompt",
}


def check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` if every entry is an allowed sampling parameter within its bounds; else ParamError."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = str(key)
        if name in _NEVER:
            raise ParamError(name, _NEVER[name])
        check = SAMPLING.get(name)
        if check is None:
            raise ParamError(
                name, f"`{name}` is not a parameter promptreview sends; allowed: {', '.join(SAMPLING)}"
            )
        if value is not None:
            out[name] = check(name, value)
    return out


def request_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``params`` that may go into a request body (the client's last line of defence)."""
    return {k: v for k, v in params.items() if k in SAMPLING}
