"""Extract the parts of GitHub's published API descriptions that AutoStack uses into fixtures.

Installs pinned `@octokit/openapi`, `@octokit/webhooks-schemas` and `@octokit/webhooks-examples`
with npm into a temporary directory and writes trimmed, offline copies under
tests/fixtures/reference/github/. Run: `.venv/bin/python tests/tools/extract_github_reference.py`.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

if not __package__:  # run as a script: make `tests.support` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
# Examples are checked with the same validator the tests use.
from tests.support.webhook_schemas import WebhookSchema

PACKAGES = {
    "@octokit/openapi": "23.0.2",
    "@octokit/webhooks-schemas": "7.6.1",
    "@octokit/webhooks-examples": "7.6.1",
}

# (method, path template) of every REST operation the bot, the CLI or the sandbox needs.
OPERATIONS: list[tuple[str, str]] = [
    # GitHub App authentication and installations
    ("get", "/app"),
    ("get", "/app/installations"),
    ("get", "/app/installations/{installation_id}"),
    ("post", "/app/installations/{installation_id}/access_tokens"),
    ("get", "/installation/repositories"),
    ("get", "/repos/{owner}/{repo}/installation"),
    ("post", "/app-manifests/{code}/conversions"),
    # repositories and contents
    ("get", "/repos/{owner}/{repo}"),
    ("patch", "/repos/{owner}/{repo}"),
    ("get", "/repos/{owner}/{repo}/contents/{path}"),
    ("put", "/repos/{owner}/{repo}/contents/{path}"),
    ("get", "/repos/{owner}/{repo}/branches/{branch}"),
    ("post", "/repos/{owner}/{repo}/merges"),
    ("get", "/repos/{owner}/{repo}/compare/{basehead}"),
    ("get", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    # git database (GET /repos/{owner}/{repo}/git/refs is not in GitHub's description:
    # matching-refs replaces it)
    ("get", "/repos/{owner}/{repo}/git/ref/{ref}"),
    ("get", "/repos/{owner}/{repo}/git/matching-refs/{ref}"),
    ("post", "/repos/{owner}/{repo}/git/refs"),
    ("patch", "/repos/{owner}/{repo}/git/refs/{ref}"),
    ("delete", "/repos/{owner}/{repo}/git/refs/{ref}"),
    ("get", "/repos/{owner}/{repo}/git/commits/{commit_sha}"),
    ("post", "/repos/{owner}/{repo}/git/commits"),
    ("get", "/repos/{owner}/{repo}/git/trees/{tree_sha}"),
    ("post", "/repos/{owner}/{repo}/git/trees"),
    ("get", "/repos/{owner}/{repo}/git/blobs/{file_sha}"),
    ("post", "/repos/{owner}/{repo}/git/blobs"),
    # commits, statuses and checks
    ("get", "/repos/{owner}/{repo}/commits/{ref}"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/status"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/statuses"),
    ("post", "/repos/{owner}/{repo}/statuses/{sha}"),
    ("post", "/repos/{owner}/{repo}/check-runs"),
    ("patch", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
    # pull requests
    ("get", "/repos/{owner}/{repo}/pulls"),
    ("post", "/repos/{owner}/{repo}/pulls"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("patch", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("put", "/repos/{owner}/{repo}/pulls/{pull_number}/merge"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
    # issues, comments and reactions
    ("get", "/repos/{owner}/{repo}/issues"),
    ("post", "/repos/{owner}/{repo}/issues"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("patch", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("get", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("delete", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("get", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
    ("post", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/reactions"),
    # deployments
    ("get", "/repos/{owner}/{repo}/deployments"),
    ("post", "/repos/{owner}/{repo}/deployments"),
    ("get", "/repos/{owner}/{repo}/deployments/{deployment_id}"),
    ("get", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    ("post", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"),
    # Actions workflow runs (the image for a sha is built when its run succeeded)
    ("get", "/repos/{owner}/{repo}/actions/runs"),
    ("get", "/repos/{owner}/{repo}/actions/runs/{run_id}"),
    # Actions variables (`autostack aws setup` sets AUTOSTACK_AWS_ROLE_ARN)
    ("get", "/repos/{owner}/{repo}/actions/variables"),
    ("post", "/repos/{owner}/{repo}/actions/variables"),
    ("get", "/repos/{owner}/{repo}/actions/variables/{name}"),
    ("patch", "/repos/{owner}/{repo}/actions/variables/{name}"),
    ("delete", "/repos/{owner}/{repo}/actions/variables/{name}"),
    # users, organizations, rate limit
    ("get", "/user"),
    ("get", "/users/{username}"),
    ("get", "/orgs/{org}"),
    ("get", "/rate_limit"),
]

# Close relatives of the operations above that the bot, the CLI or the sandbox is likely to use.
CLOSE_RELATIVES: list[tuple[str, str]] = [
    ("delete", "/repos/{owner}/{repo}/contents/{path}"),  # remove a generated file
    ("get", "/repos/{owner}/{repo}/branches"),
    ("get", "/repos/{owner}/{repo}/commits"),  # history of an overlay (`?path=`)
    ("get", "/repos/{owner}/{repo}/commits/{ref}/check-suites"),  # "checks green" policy
    ("get", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/merge"),  # is it merged (204/404)
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/commits"),
    ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"),
    ("get", "/repos/{owner}/{repo}/issues/comments"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("get", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses/{status_id}"),
    ("get", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs"),
    ("get", "/orgs/{org}/installation"),
    ("get", "/users/{username}/installation"),
    ("post", "/orgs/{org}/repos"),  # `autostack init` creating the GitOps repository
    ("post", "/user/repos"),
    ("get", "/app/hook/deliveries"),  # webhook redelivery, as the sandbox offers it
    ("post", "/app/hook/deliveries/{delivery_id}/attempts"),
]

# Webhook events whose schemas and examples are extracted.
EVENTS = [
    "installation",
    "installation_repositories",
    "push",
    "pull_request",
    "pull_request_review",
    "issue_comment",
    "workflow_run",
    "check_run",
    "check_suite",
    "deployment",
    "deployment_status",
    "ping",
]

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
REF_PREFIX = "#/components/"
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "tests" / "fixtures" / "reference" / "github"


def npm_install(prefix: Path) -> Path:
    """Install the pinned packages under `prefix` and return its node_modules/@octokit."""
    specs = [f"{name}@{version}" for name, version in PACKAGES.items()]
    subprocess.run(
        ["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(prefix), *specs],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return prefix / "node_modules" / "@octokit"


def iter_refs(node: Any) -> Iterator[str]:
    """Yield every `$ref` string inside a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from iter_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_refs(item)


def trim_openapi(spec: dict[str, Any], operations: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Keep `operations` and the components they reference, transitively."""
    paths: dict[str, dict[str, Any]] = {}
    for method, template in operations:
        item = spec["paths"].get(template, {})
        if method not in item:
            raise SystemExit(f"{method.upper()} {template} is not in GitHub's OpenAPI description")
        kept = paths.setdefault(template, {k: v for k, v in item.items() if k not in HTTP_METHODS})
        kept[method] = item[method]
    components: dict[str, dict[str, Any]] = {}
    pending = list(iter_refs(paths))
    while pending:
        ref = pending.pop()
        if not ref.startswith(REF_PREFIX):
            raise SystemExit(f"unexpected reference {ref}")
        kind, name = ref[len(REF_PREFIX) :].split("/", 1)
        if name in components.get(kind, {}):
            continue
        target = spec["components"][kind][name]
        components.setdefault(kind, {})[name] = target
        pending.extend(iter_refs(target))
    return {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "servers": spec["servers"],
        "paths": dict(sorted(paths.items())),
        "components": {
            kind: dict(sorted(entries.items())) for kind, entries in sorted(components.items())
        },
    }


def event_definition(event: str, definitions: dict[str, Any]) -> str:
    """Name of the definition for an event: `<e>_event` (with actions) or `<e>$event`."""
    for name in (f"{event}_event", f"{event}$event"):
        if name in definitions:
            return name
    raise SystemExit(f"no schema for webhook event {event}")


def bundle_event_schema(event: str, schema: dict[str, Any]) -> dict[str, Any]:
    """One self-contained draft-07 schema for `event`, with its transitive definitions."""
    definitions = schema["definitions"]
    root = event_definition(event, definitions)
    kept: dict[str, Any] = {}
    pending = [f"#/definitions/{root}"]
    while pending:
        ref = pending.pop()
        name = ref.removeprefix("#/definitions/")
        if name == ref:
            raise SystemExit(f"unexpected reference {ref} in webhook schemas")
        if name in kept:
            continue
        kept[name] = definitions[name]
        pending.extend(iter_refs(definitions[name]))
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": f"https://autostack.invalid/github/webhook-schemas/{event}.json",
        "title": f"GitHub webhook payload: {event}",
        "allOf": [{"$ref": f"#/definitions/{root}"}],
        "definitions": dict(sorted(kept.items())),
    }


def example_file_names(event: str, examples: list[dict[str, Any]]) -> Iterator[tuple[str, dict]]:
    """Name examples `<action>-<n>.json` (or `<event>-<n>.json` for events without actions)."""
    counts: dict[str, int] = {}
    for payload in examples:
        stem = re.sub(r"[^a-z0-9_]", "_", str(payload.get("action") or event))
        counts[stem] = counts.get(stem, 0) + 1
        yield f"{stem}-{counts[stem]}.json", payload


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def package_version(package_dir: Path) -> tuple[str, str]:
    manifest = json.loads((package_dir / "package.json").read_text())
    return manifest["version"], manifest.get("license", "UNKNOWN")


def copy_license(package_dir: Path, dest: Path, name: str) -> None:
    """Copy the package's license file, or say where its license is declared if it ships none."""
    dest.mkdir(parents=True, exist_ok=True)
    for candidate in ("LICENSE", "LICENSE.md", "license"):
        if (package_dir / candidate).exists():
            shutil.copyfile(package_dir / candidate, dest / "LICENSE")
            return
    version, license_id = package_version(package_dir)
    (dest / "LICENSE").write_text(
        f"{name}@{version} ships no license file. Its package.json declares\n"
        f'"license": "{license_id}" and its README links the LICENSE.md of\n'
        "https://github.com/octokit/webhooks; the data here is used under these terms:\n\n"
        + MIT_TEXT,
        encoding="utf-8",
    )


MIT_TEXT = """MIT License

Copyright (c) Octokit contributors

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def extract(modules: Path, out: Path) -> dict[str, str]:
    """Write every fixture under `out`; return package name -> installed version."""
    if out.exists():
        for child in ("openapi.json", "LICENSE", "webhook-schemas", "webhook-examples"):
            target = out / child
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    openapi_dir = modules / "openapi"
    spec = json.loads((openapi_dir / "generated" / "api.github.com.json").read_text())
    write_json(out / "openapi.json", trim_openapi(spec, [*OPERATIONS, *CLOSE_RELATIVES]))
    copy_license(openapi_dir, out, "@octokit/openapi")

    schemas_dir = modules / "webhooks-schemas"
    schema = json.loads((schemas_dir / "schema.json").read_text())
    for event in EVENTS:
        write_json(out / "webhook-schemas" / f"{event}.json", bundle_event_schema(event, schema))
    copy_license(schemas_dir, out / "webhook-schemas", "@octokit/webhooks-schemas")

    examples_dir = modules / "webhooks-examples"
    index = json.loads((examples_dir / "api.github.com" / "index.json").read_text())
    by_event = {entry["name"]: entry["examples"] for entry in index}
    stale = []
    for event in EVENTS:
        checker = WebhookSchema(event, bundle_event_schema(event, schema))
        for file_name, payload in example_file_names(event, by_event[event]):
            # Some examples predate fields the schema now requires; senders must not copy them.
            violations = checker.validate(payload)
            if violations:
                stale.append(f"- `{event}/{file_name}`: {violations[0]}")
            else:
                write_json(out / "webhook-examples" / event / file_name, payload)
    copy_license(examples_dir, out / "webhook-examples", "@octokit/webhooks-examples")
    versions = {name: package_version(modules / name.split("/")[1])[0] for name in PACKAGES}
    write_readme(out, versions, stale)
    return versions


def write_readme(out: Path, versions: dict[str, str], stale: list[str]) -> None:
    """Say where each fixture came from and how to make it again."""
    operations = "\n".join(
        f"- `{method.upper()} {path}`" for method, path in [*OPERATIONS, *CLOSE_RELATIVES]
    )
    examples = "\n".join(
        f"- `{event}`: {len(list((out / 'webhook-examples' / event).glob('*.json')))}"
        for event in EVENTS
    )
    (out / "README.md").write_text(
        README.format(
            openapi=versions["@octokit/openapi"],
            schemas=versions["@octokit/webhooks-schemas"],
            examples_version=versions["@octokit/webhooks-examples"],
            operations=operations,
            examples=examples,
            stale="\n".join(stale) or "(none)",
        ),
        encoding="utf-8",
    )


README = """# GitHub reference data (generated, do not edit by hand)

Made by `tests/tools/extract_github_reference.py` from npm packages (MIT, see the LICENSE
files): re-run it with `.venv/bin/python tests/tools/extract_github_reference.py` after
changing the pinned versions or the operation list at the top of the script. It installs the
packages with `npm install --no-save` into a temporary directory and rewrites this directory.

- `openapi.json` (license: `LICENSE`): `@octokit/openapi@{openapi}`,
  `generated/api.github.com.json`, GitHub's official OpenAPI 3.0 description, trimmed to the
  operations below and every component they reference, transitively.
- `webhook-schemas/<event>.json` (license: `webhook-schemas/LICENSE`):
  `@octokit/webhooks-schemas@{schemas}`, `schema.json` (draft-07), one self-contained schema
  per event holding the event's definition and every definition it references.
- `webhook-examples/<event>/<action>-<n>.json` (license: `webhook-examples/LICENSE`):
  `@octokit/webhooks-examples@{examples_version}`, `api.github.com/index.json`, every real
  example payload of each event that validates against that event's schema.

## Operations
{operations}

## Webhook examples per event
{examples}

## Examples left out
These examples from the package fail their event's schema (they predate fields GitHub now
sends), so they are not copied; the first violation of each:
{stale}
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="fixture directory")
    parser.add_argument(
        "--modules", type=Path, help="an existing node_modules/@octokit (skips npm install)"
    )
    args = parser.parse_args(argv)
    if args.modules:
        versions = extract(args.modules, args.out)
    else:
        with tempfile.TemporaryDirectory(prefix="github-reference-") as tmp:
            versions = extract(npm_install(Path(tmp)), args.out)
    for name, version in versions.items():
        if version != PACKAGES[name]:
            raise SystemExit(f"{name}: installed {version}, pinned {PACKAGES[name]}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
