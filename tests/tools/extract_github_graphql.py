"""Trim GitHub's published GraphQL schema to what AutoStack's queries reach.

Installs the pinned `@octokit/graphql-schema` with npm into a temporary directory, reads its
`schema.graphql` (GitHub's public schema, MIT) and writes, with the official names, types,
arguments, descriptions, enums, interfaces and unions:

- tests/fixtures/reference/github/graphql/schema.graphql, with its LICENSE and a README that
  says where it came from;
- sandbox/github/schema.graphql, the same file, which the sandbox GitHub serves (the
  sandbox ships without tests/; a test checks that the two are identical).

What is kept: every field the bot's queries (`bot.adapters.github.queries.QUERIES`) select,
with all its arguments; every type those fields and arguments name (input objects and enums
whole); for each interface kept, every type implementing it, with the interface's kept
fields, so that the schema stays valid and the sandbox can answer with any of them.

Run: `.venv/bin/python tests/tools/extract_github_graphql.py` (or `--schema FILE` to read an
already downloaded schema.graphql, with `--version` saying which).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from graphql import (
    DirectiveDefinitionNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    FieldDefinitionNode,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    NamedTypeNode,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    UnionTypeDefinitionNode,
    Visitor,
    build_ast_schema,
    parse,
    print_ast,
    validate,
    visit,
)
from graphql.language import DirectiveNode, Node

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: make `bot` importable
    sys.path.insert(0, str(ROOT))

from bot.adapters.github.queries import QUERIES  # noqa: E402
from tests.support.github_graphql import selected_fields  # noqa: E402

PACKAGE, VERSION = "@octokit/graphql-schema", "15.26.1"
FIXTURE_DIR = ROOT / "tests" / "fixtures" / "reference" / "github" / "graphql"
SANDBOX_COPY = ROOT / "sandbox" / "github" / "schema.graphql"
BUILT_IN_SCALARS = frozenset({"String", "Int", "Float", "Boolean", "ID"})
TypeDefinition = (
    ObjectTypeDefinitionNode
    | InterfaceTypeDefinitionNode
    | UnionTypeDefinitionNode
    | EnumTypeDefinitionNode
    | InputObjectTypeDefinitionNode
    | ScalarTypeDefinitionNode
)


def npm_install(prefix: Path) -> Path:
    """Install the pinned package under `prefix`; return its directory."""
    subprocess.run(
        [
            "npm",
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--prefix",
            str(prefix),
            f"{PACKAGE}@{VERSION}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return prefix / "node_modules" / PACKAGE


def named_types(node: Node) -> set[str]:
    """Every type name a definition node refers to (field types, arguments, members)."""
    found: set[str] = set()

    class Names(Visitor):
        def enter_named_type(self, named: NamedTypeNode, *_: object) -> None:
            found.add(named.name.value)

    visit(node, Names())
    return found


def directive_names(node: Node) -> set[str]:
    found: set[str] = set()

    class Names(Visitor):
        def enter_directive(self, directive: DirectiveNode, *_: object) -> None:
            found.add(directive.name.value)

    visit(node, Names())
    return found


def trim(full: DocumentNode, used: dict[str, set[str]]) -> DocumentNode:
    """The definitions of `full` that `used` reaches, each cut to the fields kept."""
    definitions: dict[str, TypeDefinition] = {}
    directives: dict[str, DirectiveDefinitionNode] = {}
    for node in full.definitions:
        if isinstance(node, DirectiveDefinitionNode):
            directives[node.name.value] = node
        elif isinstance(node, TypeDefinition):
            definitions[node.name.value] = node
    implementations: dict[str, list[str]] = {}
    for name, node in definitions.items():
        if isinstance(node, ObjectTypeDefinitionNode):
            for interface in node.interfaces or ():
                implementations.setdefault(interface.name.value, []).append(name)

    fields: dict[str, set[str]] = {name: set(names) for name, names in used.items()}
    kept: dict[str, TypeDefinition] = {}
    pending = sorted(fields)
    while pending:
        name = pending.pop()
        node = definitions.get(name)
        if node is None:
            if name in BUILT_IN_SCALARS:
                continue
            raise SystemExit(f"{name} is not defined in GitHub's schema")
        if isinstance(node, InterfaceTypeDefinitionNode):
            # Whatever implements a kept interface may be its value: keep them, with its fields.
            for implementation in implementations.get(name, []):
                before = set(fields.get(implementation, set()))
                fields.setdefault(implementation, set()).update(fields.get(name, set()))
                if implementation not in kept or fields[implementation] != before:
                    pending.append(implementation)
        cut = _cut(node, fields.get(name, set()))
        if kept.get(name) == cut:
            continue
        kept[name] = cut
        for other in sorted(named_types(cut) - set(kept) - BUILT_IN_SCALARS):
            pending.append(other)
    for name, node in list(kept.items()):
        if isinstance(node, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
            # Only the interfaces kept for their own sake (a field's type) are implemented.
            original = definitions[name].interfaces or ()  # type: ignore[union-attr]
            interfaces = tuple(i for i in original if i.name.value in kept)
            kept[name] = _replace(node, interfaces=interfaces)
        elif isinstance(node, UnionTypeDefinitionNode):
            members = tuple(t for t in node.types or () if t.name.value in kept)
            if not members:
                raise SystemExit(f"union {name} keeps no member")
            kept[name] = _replace(node, types=members)
    used_directives = set().union(*(directive_names(node) for node in kept.values()))
    ordered: list[TypeDefinition | DirectiveDefinitionNode] = [
        directives[name] for name in sorted(used_directives) if name in directives
    ]
    ordered += [kept[name] for name in sorted(kept)]
    return DocumentNode(definitions=tuple(ordered))


def _cut(node: TypeDefinition, names: set[str]) -> TypeDefinition:
    """An object or interface with only the fields `names` (and, for now, no interfaces);
    other definitions whole."""
    if not isinstance(node, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
        return node
    missing = names - {f.name.value for f in node.fields or ()}
    if missing:
        raise SystemExit(f"{node.name.value} has no field {sorted(missing)[0]}")
    kept: tuple[FieldDefinitionNode, ...] = tuple(
        f for f in node.fields or () if f.name.value in names
    )
    if not kept:
        raise SystemExit(f"{node.name.value} would keep no field")
    return _replace(node, fields=kept, interfaces=())


def _replace(node: TypeDefinition, **changes: object) -> TypeDefinition:
    values = {key: getattr(node, key) for key in node.keys}
    return type(node)(**{**values, **changes})


HEADER = """\
# GitHub's GraphQL schema, trimmed to the types and fields AutoStack's queries reach.
# Generated by tests/tools/extract_github_graphql.py from {package}@{version}
# (schema.graphql, MIT: see tests/fixtures/reference/github/graphql/LICENSE).
# Do not edit: run the tool again.

"""

README = """# GitHub's GraphQL schema, trimmed (generated, do not edit by hand)

Made by `tests/tools/extract_github_graphql.py` from the npm package `{package}@{version}`
(`schema.graphql`, GitHub's public GraphQL schema; MIT, see `LICENSE`). Re-run it with
`.venv/bin/python tests/tools/extract_github_graphql.py` after changing a query in
`bot/adapters/github/queries.py` or the pinned version. It installs the package with
`npm install --no-save` into a temporary directory and rewrites this directory and
`sandbox/github/schema.graphql` (the same file, which the sandbox GitHub serves).

`schema.graphql` keeps, with GitHub's own names, types, arguments and descriptions:
- every field the bot's queries select, with all of its arguments;
- every type those fields and arguments name (enums and input objects whole);
- for each interface kept, every type implementing it, with the interface's kept fields.

Queries trimmed for: {queries}.

{count} types kept of {total} in the package's schema.
"""


def extract(schema_text: str, version: str, license_text: str, out: Path, copy: Path) -> str:
    """Write the trimmed schema, its license and README; return the schema's text."""
    full = parse(schema_text, no_location=True)
    full_schema = build_ast_schema(full, assume_valid_sdl=True)
    # GitHub's whole schema does not pass graphql-core's checks (it repeats two fields and
    # deprecates some fields that implement interfaces): the queries are validated against
    # the trimmed schema below, which does.
    used = selected_fields(full_schema, QUERIES.values())
    trimmed = trim(full, used)
    body = print_ast(trimmed)
    text = HEADER.format(package=PACKAGE, version=version) + body + "\n"
    schema = build_ast_schema(parse(text))  # fully validated this time
    for name, query in QUERIES.items():
        errors = validate(schema, parse(query))
        if errors:
            raise SystemExit(f"{name} does not validate against the trimmed schema: {errors[0]}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "schema.graphql").write_text(text, encoding="utf-8")
    (out / "LICENSE").write_text(license_text, encoding="utf-8")
    total = sum(1 for d in full.definitions if isinstance(d, TypeDefinition))
    (out / "README.md").write_text(
        README.format(
            package=PACKAGE,
            version=version,
            queries=", ".join(f"`{name}`" for name in QUERIES),
            count=len([d for d in trimmed.definitions if isinstance(d, TypeDefinition)]),
            total=total,
        ),
        encoding="utf-8",
    )
    shutil.copyfile(out / "schema.graphql", copy)
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=FIXTURE_DIR, help="fixture directory")
    parser.add_argument("--sandbox-copy", type=Path, default=SANDBOX_COPY)
    parser.add_argument("--schema", type=Path, help="a schema.graphql already downloaded")
    parser.add_argument("--version", default=VERSION, help="the package version of --schema")
    args = parser.parse_args(argv)
    if args.schema:
        license_file = args.schema.parent / "LICENSE.md"
        license_text = license_file.read_text() if license_file.exists() else ""
        extract(args.schema.read_text(), args.version, license_text, args.out, args.sandbox_copy)
    else:
        with tempfile.TemporaryDirectory(prefix="github-graphql-") as tmp:
            package = npm_install(Path(tmp))
            import json

            version = json.loads((package / "package.json").read_text())["version"]
            if version != VERSION:
                raise SystemExit(f"{PACKAGE}: installed {version}, pinned {VERSION}")
            extract(
                (package / "schema.graphql").read_text(),
                version,
                (package / "LICENSE.md").read_text(),
                args.out,
                args.sandbox_copy,
            )
    print(f"wrote {args.out} and {args.sandbox_copy}")


if __name__ == "__main__":
    main()
