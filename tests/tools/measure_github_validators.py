"""Print how long the GitHub validators take to load and to check one exchange or payload.

Run: `.venv/bin/python tests/tools/measure_github_validators.py` (each step in a fresh process
would be slower by the imports; this measures a warm test process).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

if not __package__:  # run as a script: make `tests.support` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.support import github_openapi, webhook_schemas


def per_call(function: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - start) / repeat * 1000


def main() -> None:
    start = time.perf_counter()
    api = github_openapi.load()
    print(f"openapi load: {(time.perf_counter() - start) * 1000:.0f} ms")
    pulls = api.resolve(
        api.spec["paths"]["/repos/{owner}/{repo}/pulls/{pull_number}"]["get"]["responses"]["200"]
    )
    example = next(iter(pulls["content"]["application/json"]["examples"].values()))
    pull = json.dumps(api.resolve(example)["value"]).encode()
    url = "https://api.github.com/repos/acme/web/pulls/1"
    headers = {"Content-Type": "application/json"}
    first = per_call(lambda: api.validate_response("GET", url, 200, headers, pull), 1)
    print(f"first pull-request response (builds its validator): {first:.1f} ms")
    warm = per_call(lambda: api.validate_response("GET", url, 200, headers, pull), 200)
    print(f"pull-request response, warm: {warm:.2f} ms")
    request = json.dumps({"title": "t", "head": "h", "base": "main"}).encode()
    create = "https://api.github.com/repos/acme/web/pulls"
    small = per_call(lambda: api.validate_request("POST", create, headers, request), 500)
    print(f"create-pull request: {small:.2f} ms")
    payload = webhook_schemas.example_payloads("pull_request", "opened")[0]
    hook = per_call(lambda: webhook_schemas.validate_webhook("pull_request", payload), 50)
    print(f"pull_request webhook payload, warm: {hook:.2f} ms")


if __name__ == "__main__":
    main()
