"""Rewrite tests/fixtures/reference/github-app-permissions/operations.json from the npm
package ``@octokit/app-permissions`` (MIT): for every operation of the trimmed GitHub
REST description, the repository permissions GitHub's docs list for it.

    npm pack @octokit/app-permissions@2.1.0 && tar xzf octokit-app-permissions-2.1.0.tgz
    .venv/bin/python tests/ship/extract_app_permissions.py package
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "reference"
OPENAPI = REFERENCE / "github" / "openapi.json"
OUT = REFERENCE / "github-app-permissions" / "operations.json"
METHODS = ("get", "put", "post", "patch", "delete")


def main(package: Path) -> None:
    data = json.loads((package / "generated" / "api.github.com.json").read_text())
    documented: dict[str, set[str]] = {}
    for permission, levels in data["permissions"].items():
        for access in ("read", "write"):
            for route in levels.get(access, []):
                documented.setdefault(route, set()).add(f"{permission}:{access}")
    spec = json.loads(OPENAPI.read_text())
    operations = {
        f"{method.upper()} {path}": sorted(documented[f"{method.upper()} {path}"])
        for path, item in spec["paths"].items()
        for method in item
        if method in METHODS and f"{method.upper()} {path}" in documented
    }
    OUT.write_text(json.dumps(dict(sorted(operations.items())), indent=2) + "\n")
    (OUT.parent / "LICENSE").write_text((package / "LICENSE").read_text())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
