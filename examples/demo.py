"""The README's main command: a full base-vs-head review of the bundled example.

It builds the example repository (a prompt edit on a branch), starts the loopback
OpenAI-compatible test server with the example's deterministic model, runs
``promptreview compare`` exactly as a user would, and prints the PR comment the action would
post. Reports are also written to ``out/`` (Markdown, HTML, JSON).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

from build_repo import build  # noqa: E402
from demo_model import respond  # noqa: E402
from tests.servers.openai_server import OpenAIServer  # noqa: E402

from promptreview.cli import main as promptreview  # noqa: E402


def run_demo(out_dir: Path, extra: list[str] | None = None) -> int:
    with (
        tempfile.TemporaryDirectory(prefix="promptreview-demo-") as tmp,
        OpenAIServer(responder=respond) as server,
    ):
        repo = Path(tmp) / "acme-support"
        base, head = build(repo)
        os.environ["OPENAI_BASE_URL"] = server.base_url
        os.environ.setdefault("OPENAI_API_KEY", "demo-key-not-secret")
        out_dir.mkdir(parents=True, exist_ok=True)
        return promptreview(
            [
                "compare",
                "--repo",
                str(repo),
                "--base",
                base,
                "--head",
                head,
                "--comment",
                "--markdown",
                str(out_dir / "comment.md"),
                "--html",
                str(out_dir / "report.html"),
                "--json",
                str(out_dir / "report.json"),
                "--cache",
                str(Path(tmp) / "cache.sqlite"),
                *(extra or []),
            ]
        )


if __name__ == "__main__":
    code = run_demo(ROOT / "out")
    print(f"\n(exit code {code}: 0 pass, 1 fail, 3 inconclusive; reports in out/)", file=sys.stderr)
    sys.exit(0 if code in (0, 1, 3) else code)
