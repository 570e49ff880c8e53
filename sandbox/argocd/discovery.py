"""Find the Applications a GitOps repository declares under ``argocd/``.

Applications are taken as written; ApplicationSets are expanded through their list and git
(directories or files) generators, the way Argo CD's ApplicationSet controller does.
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sandbox.argocd.manifests import ManifestError, load_documents

ARGO_API = "argoproj.io/v1alpha1"
ARGOCD_DIR = "argocd"


class RepoSnapshot(Protocol):
    """The repository at one commit, as the generators need to see it."""

    def files(self, prefix: str = "") -> list[str]: ...
    def directories(self) -> list[str]: ...
    def read(self, path: str) -> str: ...


@dataclass
class Discovery:
    applications: list[dict[str, Any]]
    errors: list[str]


def discover(repo: RepoSnapshot) -> Discovery:
    """Every Application under ``argocd/`` (recursively, multi-document YAML), sets expanded."""
    apps: list[dict[str, Any]] = []
    errors: list[str] = []
    for path in sorted(repo.files(ARGOCD_DIR)):
        if not path.endswith((".yaml", ".yml")):
            continue
        try:
            docs = [d for d in load_documents(repo.read(path)) if isinstance(d, dict)]
        except ManifestError as exc:
            errors.append(f"{path}: {exc}")
            continue
        for doc in docs:
            if doc.get("apiVersion") != ARGO_API:
                continue
            if doc.get("kind") == "Application":
                apps.append(doc)
            elif doc.get("kind") == "ApplicationSet":
                try:
                    apps.extend(expand_application_set(doc, repo))
                except (ValueError, KeyError, TypeError, IndexError, ManifestError) as exc:
                    errors.append(f"{path}: ApplicationSet: {exc}")
    named = [a for a in apps if (a.get("metadata") or {}).get("name")]
    return Discovery(applications=_dedupe(named), errors=errors)


def _dedupe(apps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_name: dict[str, dict[str, Any]] = {}
    for app in apps:
        by_name.setdefault(app["metadata"]["name"], app)
    return list(by_name.values())


def expand_application_set(appset: dict[str, Any], repo: RepoSnapshot) -> list[dict[str, Any]]:
    spec = appset.get("spec") or {}
    template = spec.get("template") or {}
    go_template = bool(spec.get("goTemplate"))
    apps = []
    for generator in spec.get("generators") or []:
        for params in generator_params(generator, repo):
            app = render_template(template, params, go_template)
            app["apiVersion"], app["kind"] = ARGO_API, "Application"
            apps.append(app)
    return apps


def generator_params(generator: dict[str, Any], repo: RepoSnapshot) -> list[dict[str, Any]]:
    if "list" in generator:
        return [dict(e) for e in generator["list"].get("elements") or []]
    git = generator.get("git")
    if git is None:
        return []  # generators that need a cluster or an SCM API have nothing to offer here
    if git.get("directories"):
        return _directory_params(git["directories"], repo.directories())
    if git.get("files"):
        return _file_params(git["files"], repo)
    return []


def _directory_params(patterns: list[dict[str, Any]], dirs: list[str]) -> list[dict[str, Any]]:
    include = [
        glob_regex(p["path"], cross_segments=False) for p in patterns if not p.get("exclude")
    ]
    exclude = [glob_regex(p["path"], cross_segments=False) for p in patterns if p.get("exclude")]
    chosen = [
        d
        for d in sorted(dirs)
        if any(r.fullmatch(d) for r in include) and not any(r.fullmatch(d) for r in exclude)
    ]
    return [path_params(d) for d in chosen]


def _file_params(patterns: list[dict[str, Any]], repo: RepoSnapshot) -> list[dict[str, Any]]:
    regexes = [glob_regex(p["path"], cross_segments=True) for p in patterns]
    params = []
    for path in sorted(repo.files()):
        if not any(r.fullmatch(path) for r in regexes):
            continue
        docs = load_documents(repo.read(path))
        content = docs[0] if docs else {}
        for item in content if isinstance(content, list) else [content]:
            entry: dict[str, Any] = dict(item)
            entry.update(path_params(posixpath.dirname(path), filename=posixpath.basename(path)))
            params.append(entry)
    return params


def path_params(directory: str, filename: str | None = None) -> dict[str, Any]:
    """The ``path`` parameters Argo CD's git generators give a template."""
    segments = directory.split("/") if directory else []
    basename = segments[-1] if segments else ""
    path: dict[str, Any] = {
        "path": directory,
        "basename": basename,
        "basenameNormalized": normalize_name(basename),
        "segments": segments,
    }
    flat: dict[str, Any] = {
        "path": directory,
        "path.basename": basename,
        "path.basenameNormalized": normalize_name(basename),
    }
    for i, segment in enumerate(segments):
        flat[f"path[{i}]"] = segment
    if filename is not None:
        path["filename"] = filename
        path["filenameNormalized"] = normalize_name(filename)
        flat["path.filename"] = filename
        flat["path.filenameNormalized"] = normalize_name(filename)
    # Fasttemplate reads the flat keys; goTemplate reads the nested ``.path`` object.
    return {**flat, "__go_path__": path}


def normalize_name(name: str) -> str:
    return re.sub(r"[^a-z0-9-.]", "-", name.lower())


def glob_regex(pattern: str, cross_segments: bool) -> re.Pattern[str]:
    """Translate a git generator glob: ``*`` stays in one segment, ``**`` crosses them."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i) and cross_segments:
            out.append(".*")
            i += 2
            if pattern.startswith("/", i):
                out[-1] = "(?:.*/)?"
                i += 1
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i)
            if end < 0:
                out.append(re.escape(ch))
            else:
                out.append("[" + pattern[i + 1 : end].replace("!", "^", 1) + "]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out))


def render_template(template: Any, params: dict[str, Any], go_template: bool) -> Any:
    substitute = _go_substituter(params) if go_template else _fast_substituter(params)
    return _walk(copy.deepcopy(template), substitute)


def _walk(node: Any, substitute: Callable[[str], str]) -> Any:
    if isinstance(node, dict):
        return {k: _walk(v, substitute) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v, substitute) for v in node]
    if isinstance(node, str):
        return substitute(node)
    return node


def _fast_substituter(params: dict[str, Any]) -> Callable[[str], str]:
    flat = {k: v for k, v in _flatten(params) if not k.startswith("__go_path__")}

    def substitute(text: str) -> str:
        def value(match: re.Match[str]) -> str:
            key = match.group(1).strip()
            return _scalar(flat[key]) if key in flat else match.group(0)

        return re.sub(r"\{\{([^{}]+)\}\}", value, text)

    return substitute


def _go_substituter(params: dict[str, Any]) -> Callable[[str], str]:
    context = {k: v for k, v in params.items() if "." not in k and "[" not in k}
    context["path"] = params.get("__go_path__", context.get("path"))

    def lookup(expr: str) -> Any:
        index = re.fullmatch(r"index\s+\.([\w.]+)\s+(\d+)", expr)
        if index:
            return _dig(context, index.group(1))[int(index.group(2))]
        if expr.startswith("."):
            return _dig(context, expr[1:])
        raise ValueError(f"unsupported template expression {{{{{expr}}}}}")

    def substitute(text: str) -> str:
        return re.sub(r"\{\{-?\s*(.+?)\s*-?\}\}", lambda m: _scalar(lookup(m.group(1))), text)

    return substitute


def _dig(context: Any, dotted: str) -> Any:
    node = context
    for key in dotted.split("."):
        node = node[key]
    return node


def _flatten(params: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, list | dict) else str(value)
