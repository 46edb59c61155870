"""A deterministic stand-in for real models, used by the bundled demo (and its test).

It behaves the way the example's prompt edit would make a real model behave: the base prompt
gets friendly, complete, long answers; the head prompt ("at most two sentences, mention the
product") gets short answers that name the product but, for questions whose facts need three
sentences, drop some of them. The judges score answers by how many of the reference's facts
they keep, so the review shows real improvements and real regressions.
"""

from __future__ import annotations

import json
import re
from typing import Any

# topic keyword -> the facts a complete answer states, one sentence each
FACTS: dict[str, list[str]] = {
    "refund": [
        "Yes, purchases are refundable within 30 days.",
        "Open Settings > Billing > Request refund.",
        "The money is back on your card in 5 business days.",
    ],
    "password": [
        "Click 'Forgot password' on the sign-in page and follow the link we email you within 2 minutes.",
        "The link is valid for 24 hours.",
    ],
    "export": [
        "Open Settings > Data > Export and choose CSV or JSON.",
        "You get an email with the download link when the export is ready.",
    ],
    "cancel": [
        "You can cancel at any time.",
        "You keep access until the end of the billing period.",
        "To cancel, open Settings > Plan and choose Cancel; you are not charged again.",
    ],
    "storage": ["The free plan includes 15 GB of storage.", "Pro raises it to 2 TB."],
    "rate limit": [
        "The API allows 600 requests per minute per key.",
        "Above that it answers 429 with a Retry-After header.",
    ],
    "two-factor": [
        "Open Settings > Security > Two-factor and scan the QR code with an authenticator app.",
        "Enter the 6-digit code to confirm.",
    ],
    "address": [
        "Yes: edit the billing address in Settings > Billing > Details.",
        "It applies to every invoice issued after the change; past invoices are not changed.",
    ],
    "delete": [
        "We are sorry to see you go.",
        "Open Settings > Account > Delete account.",
        "Files are removed after a 14-day grace period during which you can restore them.",
    ],
    "offline": [
        "Yes: mark folders as Available offline in the desktop app.",
        "Changes sync automatically when you reconnect.",
    ],
}
# feedback point -> what an answer must say to act on it
FEEDBACK_NEEDS = {"how long the money takes": "business days", "past invoices": "past invoices"}

_BLOCK = re.compile(r"<<([A-Z][A-Z ]*)-([A-Za-z0-9]+)>>\n(.*?)\n<</\1-\2>>", re.S)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")


def respond(request: dict[str, Any]) -> str:
    """The fake model's answer to one chat request (the OpenAI request JSON)."""
    messages = request.get("messages") or []
    system = " ".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
    user = str(messages[-1].get("content", "")) if messages else ""
    blocks = {label: text for label, _, text in _BLOCK.findall(user)}
    if "ANSWER A" in blocks and "ANSWER B" in blocks:
        return _pairwise(blocks)
    if "ANSWER" in blocks:
        return _grade(system, blocks)
    if "Classify the ticket" in system:
        return _triage(system, user)
    return _support(user)


def _support(prompt: str) -> str:
    question = prompt.lower()
    topic = next((t for t in FACTS if t in question), None)
    facts = FACTS[topic] if topic else ["Please contact support@acme.example with the details."]
    product = re.search(r"Customer question about (.+?):", prompt)
    if "at most two sentences" in prompt:
        name = product.group(1) if product else "Acme"
        first, *rest = facts[:2]
        return " ".join([f"In {name}: {first[0].lower()}{first[1:]}", *rest])
    return " ".join(
        ["Thanks for reaching out!", *facts, "Let me know if there is anything else I can help with."]
    )


def _triage(system: str, ticket: str) -> str:
    t = ticket.lower()
    if any(w in t for w in ("crash", "stopped working", "error")):
        return "bug"
    if "charged" in t:
        return "billing"
    if "charges, refunds or invoices" in system and any(w in t for w in ("refund", "invoice")):
        return "billing"
    return "question"


def _facts_kept(answer: str, reference: str) -> float:
    ref = {w.lower() for w in _WORD.findall(reference) if len(w) > 3 or w.isdigit()}
    got = {w.lower() for w in _WORD.findall(answer)}
    return len(ref & got) / len(ref) if ref else 1.0


def _pairwise(blocks: dict[str, str]) -> str:
    a, b = blocks["ANSWER A"], blocks["ANSWER B"]
    reference = blocks.get("REFERENCE", "")
    ka, kb = _facts_kept(a, reference), _facts_kept(b, reference)
    if abs(ka - kb) >= 0.08:
        winner = "A" if ka > kb else "B"
        reason = f"Answer {winner} keeps more of the reference's facts."
    elif min(len(a), len(b)) < 0.6 * max(len(a), len(b)):
        winner = "A" if len(a) < len(b) else "B"
        reason = f"Both are correct; answer {winner} says it in fewer words."
    else:
        winner, reason = "tie", "Both answers are equally good."
    return json.dumps({"winner": winner, "reason": reason})


def _grade(system: str, blocks: dict[str, str]) -> str:
    answer = blocks["ANSWER"]
    if "FEEDBACK" in blocks:
        points = [p for p in blocks["FEEDBACK"].splitlines() if p.strip()]
        verdicts = []
        for i, point in enumerate(points, start=1):
            need = next((v for k, v in FEEDBACK_NEEDS.items() if k in point.lower()), None)
            ok = need is None or need in answer.lower()
            verdicts.append({"point": i, "addressed": "yes" if ok else "no"})
        return json.dumps({"points": verdicts})
    if "REFERENCE" in blocks:
        kept = _facts_kept(answer, blocks["REFERENCE"])
        grade = 1 + round(4 * kept)
        return json.dumps({"reason": f"states {kept:.0%} of the reference's facts", "grade": grade})
    concrete = bool(re.search(r"\d|>", answer))
    return json.dumps(
        {"reason": "gives concrete steps" if concrete else "no concrete steps", "grade": 5 if concrete else 2}
    )
