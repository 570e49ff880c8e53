"""``autostack demo`` is the product's acceptance test: the whole story must happen, played
against the ``autostack sandbox up`` and ``autostack serve`` processes it starts."""

from __future__ import annotations

import re

from sandbox import demo


def test_demo_plays_the_whole_story() -> None:
    lines: list[str] = []
    code = demo.run(keep=False, out=lines.append)
    text = "\n".join(lines)
    assert code == 0, text
    assert re.search(r"pid \d+: autostack sandbox up --data ", text), text
    assert re.search(r"AUTOSTACK_DATA_DIR=\S+ .*autostack serve --port \d+", text), text
    for expected in (
        "detected python",
        "dev runs ghcr.io/acme/hello:",
        "| prod |",
        "Refused: @rita, you have read on acme/hello; deploying to prod needs maintain.",
        "ModuleNotFoundError: No module named 'settings'",
        "auto_rollback reverted the GitOps commit",
        "Rollback-Of=",
        "Done: every step happened as described.",
    ):
        assert expected in text, f"missing {expected!r} in:\n{text}"
