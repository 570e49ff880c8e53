"""Write docs/reliability.md from the rows ``make reliability`` collected (one JSON object
a line, written by the tests as they finish): what each scenario expected, what it saw,
what was lost or duplicated, and the command that reproduces it.

    python -m tests.reliability.report ROWS.jsonl docs/reliability.md
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

HEADER = """# Reliability: what AutoStack survives, measured

Written by `make reliability` from its last run ({when}); every row says how to run it
again. Each scenario runs the real `autostack sandbox up` and `autostack serve` processes
and drives them from outside, as GitHub and people do.

**Kills.** One deployment's whole loop (a pull request approved with green checks,
`/deploy prod` by a maintainer, the GitOps pull request merged, Argo CD syncing, the
outcome reported). The bot's Nth call to a GitHub route is held while GitHub processes it,
the bot is killed with SIGKILL at that moment, restarted as the README starts it, and the
webhooks that found it down are redelivered (as from the App's *Recent Deliveries*). The
effects are then compared with an uninterrupted run of the same story: GitOps commits and
their trailers, GitOps pull requests, GitHub Deployments and their statuses, check runs,
the command's comments, and dead-lettered deliveries.

| scenario | runs | effects expected | effects observed | lost | duplicated | seconds | reproduce |
| --- | --- | --- | --- | --- | --- | --- | --- |
"""


def counts(effects: dict[str, Any]) -> Counter[str]:
    found: Counter[str] = Counter()
    found["GitOps commit"] = len(effects["gitops_commits"])
    found["GitOps PR"] = len(effects["gitops_pulls"])
    for env, deployments in effects["deployments"].items():
        found[f"{env} Deployment"] = len(deployments)
        for states in deployments:
            for state in states.split(","):
                found[f"{env} status {state}"] += 1
    found["check run"] = len(effects["check_runs"])
    found["comment"] = sum(effects["comments"])
    found["dead delivery"] = len(effects["dead_deliveries"])
    return found


def summary(effects: dict[str, Any]) -> str:
    return ", ".join(f"{n} {what}" for what, n in sorted(counts(effects).items()) if n)


def row(entry: dict[str, Any]) -> str:
    expected, observed = counts(entry["expected"]), counts(entry["observed"])
    lost = expected - observed
    duplicated = observed - expected
    same = entry["expected"] == entry["observed"]
    seen = "same" if same else summary(entry["observed"])
    return (
        f"| {entry['scenario']} (`{entry['call']}`) | 1 | {summary(entry['expected'])} | {seen} "
        f"| {_list(lost)} | {_list(duplicated)} | {entry['seconds']} | `{entry['reproduce']}` |"
    )


def _list(found: Counter[str]) -> str:
    return ", ".join(f"{n} {what}" for what, n in sorted(found.items())) or "0"


def main(rows_path: str, out_path: str) -> int:
    entries = [json.loads(line) for line in Path(rows_path).read_text().splitlines() if line]
    entries.sort(key=lambda e: e["scenario"])
    from datetime import UTC, datetime

    when = datetime.now(UTC).strftime("%Y-%m-%d")
    held = sum(e["expected"] == e["observed"] for e in entries)
    text = HEADER.format(when=when) + "\n".join(row(e) for e in entries) + "\n"
    text += f"\n{held} of {len(entries)} kill points left exactly the uninterrupted effects.\n"
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_text(text)
    print(f"{out_path}: {len(entries)} scenarios, {held} unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
