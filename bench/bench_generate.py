"""``promptreview generate``: model calls and cost per 10 cases, from the prompt and from
documents (prints numbers, never asserts).

The real CLI runs against the loopback OpenAI server with a scripted model whose replies are
about as long as a real model's (a test input of ~25 words; a question of ~15 and an answer of
~30 words taken from the passage). Cost is priced two ways: what the CLI prints (the loopback
server counts a token per word) and from the request and reply text at ~4 characters per token,
the usual rule of thumb for English with OpenAI's tokenizers, at gpt-4.1 and gpt-4o-mini list
prices. The plan's own estimate is printed beside them.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from tests.data_helpers import block, example_repo  # noqa: E402
from tests.servers.openai_server import OpenAIServer  # noqa: E402

from promptreview.cli import main as cli  # noqa: E402
from promptreview.models.pricing import DEFAULT_PRICES  # noqa: E402

TOPICS = [
    ("Refunds", "Acme Cloud", "Refunds are available within 30 days of purchase from Settings > Billing."),
    ("Invoices", "Acme Cloud", "Invoices are issued on the first day of each month and emailed as PDF."),
    ("Two-factor", "Acme Mail", "Two-factor authentication uses an authenticator app and a 6-digit code."),
    ("Aliases", "Acme Mail", "Each mailbox can have up to 10 aliases, added under Settings > Addresses."),
    ("Storage", "Acme Drive", "The free plan includes 15 GB of storage and Pro raises it to 2 TB."),
    ("Offline", "Acme Drive", "Folders marked Available offline sync automatically when you reconnect."),
    ("Sharing", "Acme Drive", "Guests can view and comment on shared folders but cannot delete files."),
    ("Rate limits", "Acme API", "The API allows 600 requests per minute per key and answers 429 above it."),
    ("Webhooks", "Acme API", "Webhooks are signed with HMAC SHA-256 using the endpoint secret."),
    ("Sandbox", "Acme API", "Every account has a sandbox key whose calls never touch live data."),
    ("Export", "Acme Cloud", "Exports in CSV or JSON are emailed as a download link valid for 7 days."),
    ("Deletion", "Acme Drive", "Deleted accounts keep their files for a 14-day grace period."),
]
FILLER = (
    "This section of the help centre explains the feature in more detail, with the steps a customer "
    "follows in the web app and in the desktop app, the limits that apply on each plan, and what "
    "support can and cannot change on request. "
)


VOCAB = tuple(
    " ".join(
        (
            "account alias annual api archive backup billing browser cancel card charge cloud code comment",
            "contract csv data deadline delete desktop device domain download drive email error export",
            "family file folder guest history import invoice key language laptop limit link login mailbox",
            "migrate mobile month network offline owner password payment phone plan policy price profile",
            "quota receipt refund region renew restore role sandbox schedule secret security session share",
            "signature storage subscription support sync tablet tax team ticket token trial upgrade upload",
            "user vat version webhook window workspace",
        )
    ).split(" ")
)


def _words(seed: str, n: int) -> str:
    import random

    rng = random.Random(seed)
    return " ".join(rng.sample(VOCAB, n))


def help_center() -> dict[str, str]:
    md = "# Acme help centre\n\n" + "".join(f"## {t}\n\n{fact} {FILLER * 3}\n\n" for t, _, fact in TOPICS[:6])
    html = (
        "<html><head><title>Acme help</title></head><body><nav>Home</nav><main>"
        + "".join(f"<h2>{t}</h2><p>{fact} {FILLER * 3}</p>" for t, _, fact in TOPICS[6:])
        + "</main></body></html>"
    )
    return {"docs/help.md": md, "docs/api.html": html}


def responder(body: dict[str, Any]) -> str | None:
    msgs = body.get("messages", [])
    system = next((m["content"] for m in msgs if m.get("role") == "system"), "")
    user = msgs[-1]["content"]
    if "the way PromptPex does" in system:
        return json.dumps(
            {
                "intent": "Answer customer questions about Acme products helpfully and precisely.",
                "input_spec": "A product name and a customer question in plain language.",
                "rules": ["names the product", "is friendly", "is precise", "invents no policy"],
                "inverse_rules": ["does not name the product", "is curt", "is vague", "invents a policy"],
            }
        )
    if "You write test inputs" in system:
        n = int(re.search(r"Write (\d+) tests", system).group(1))  # type: ignore[union-attr]
        batch = json.loads(user)["batch"]
        tests = []
        for i in range(n):
            t, product, _ = TOPICS[(batch * 10 + i) % len(TOPICS)]
            q = f"About {t.lower()}: {_words(f'{batch}-{i}', 12)}, what are the exact steps?"
            tests.append({"vars": {"product": product, "question": q}, "rule": "names the product"})
        return json.dumps({"tests": tests})
    if "from documents" in system:
        pairs = []
        for pid, n in re.findall(r"^- (P\d+): (\d+) question", user, re.M):
            text = block(user, f"PASSAGE {pid}")
            for k in range(int(n)):
                topic = next((t for t in TOPICS if t[2] in text), TOPICS[0])
                pairs.append(
                    {
                        "passage": pid,
                        "question": f"{topic[0]}: {_words(f'{pid}-{k}', 10)}?",
                        "answer": topic[2] + " " + FILLER.split(",")[0] + ".",
                        "vars": {"product": topic[1]},
                    }
                )
        return json.dumps({"pairs": pairs})
    return None


def _run(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(argv)
    if code != 0:
        raise SystemExit(f"generate failed ({code}): {out.getvalue()}")
    return out.getvalue()


def _chars(srv: OpenAIServer) -> tuple[int, int, int]:
    chats = [r for r in srv.requests if r.path.endswith("/chat/completions") and r.body]
    sent = sum(len(m["content"]) for r in chats for m in r.body["messages"])  # type: ignore[index]
    got = sum(len(responder(r.body) or "") for r in chats)  # type: ignore[arg-type]
    return len(chats), sent, got


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        repo = example_repo(tmp, help_center()).path
        for label, extra in (
            ("from the prompt", []),
            ("from documents (--from)", ["--from", str(repo / "docs")]),
        ):
            for count in (10, 50):
                with OpenAIServer(responder=responder) as srv:
                    common = [
                        "generate",
                        "support-answers",
                        "--count",
                        str(count),
                        "--repo",
                        str(repo),
                        "--base-url",
                        srv.base_url,
                        "--no-cache",
                        *extra,
                    ]
                    plan = _run([*common, "--dry-run"]).splitlines()[0]
                    out = _run([*common, "--out", str(tmp / f"out-{len(extra)}-{count}.yaml")])
                    calls, sent, got = _chars(srv)
                    embeds = srv.count("/embeddings")
                ptok, ctok = sent / 4, got / 4
                prices = {
                    m: (ptok * DEFAULT_PRICES[m].input_per_m + ctok * DEFAULT_PRICES[m].output_per_m) / 1e6
                    for m in ("gpt-4.1", "gpt-4o-mini")
                }
                made = re.search(r"(\d+) new case\(s\)", out).group(1)  # type: ignore[union-attr]
                estimate = re.search(r"estimated cost \$([0-9.]+)", plan).group(1)  # type: ignore[union-attr]
                printed = re.search(r"generation call\(s\), \$([0-9.]+)", out).group(1)  # type: ignore[union-attr]
                per10 = 10 / count
                print(
                    f"{label}, --count {count} ({made} written): {calls} generation call(s) "
                    f"({calls * per10:.1f} per 10 cases) + {embeds} embedding request(s); "
                    f"~{ptok:,.0f} prompt + ~{ctok:,.0f} completion tokens (chars/4); per 10 cases "
                    f"${prices['gpt-4.1'] * per10:.4f} on gpt-4.1, ${prices['gpt-4o-mini'] * per10:.5f} on "
                    f"gpt-4o-mini; plan estimated ${estimate} (gpt-4.1), CLI printed ${printed} "
                    "(loopback: a token per word)"
                )


if __name__ == "__main__":
    main()
