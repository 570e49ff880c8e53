"""Edits of a user-owned overlay ``kustomization.yaml`` that keep everything else intact.

A deployment is a one-line diff: :func:`set_image` splices the new value over the old
scalar, using the parser's character positions, so comments, quoting, key order and
indentation are untouched. Only when a key has to be added does the file go through a
ruamel.yaml round trip, which keeps comments and order but may re-space what it rewrites.
"""

from __future__ import annotations

import io
import json
import re
import warnings
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.scalarstring import LiteralScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from generators import yamlio
from generators.errors import GeneratorError

OVERLAY_FILE = "kustomization.yaml"
BASE = "../../base"
PLACEHOLDER_TAG = "not-deployed"  # the overlay's newTag until the first deployment
# Docker's reference grammar: tags and repository paths.
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
IMAGE_NAME = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\.[a-z0-9-]+)*(?::[0-9]+)?"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*\Z"
)
_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./:@-]*\Z")


def get_image(text: str, app: str, path: str = OVERLAY_FILE) -> tuple[str, str] | None:
    """``(newName, newTag)`` of the ``images:`` entry named ``app``, or None without one.

    A missing ``newName`` means Kustomize keeps the name, so ``app`` is returned; a missing
    ``newTag`` is returned as ``""``.
    """
    entry = _image_entry(_compose(text, path), app, path)
    if entry is None:
        return None
    values = {key: node.value for key, node in _scalar_items(entry)}
    return str(values.get("newName") or app), str(values.get("newTag") or "")


def set_image(text: str, app: str, new_name: str, new_tag: str, path: str = OVERLAY_FILE) -> str:
    """Point the ``images:`` entry named ``app`` at ``new_name:new_tag``, adding the entry
    (or the ``images:`` list) if missing. Nothing else in ``text`` changes."""
    if not IMAGE_NAME.match(new_name):
        raise GeneratorError(path, f"{new_name!r} is not an image repository name")
    if not IMAGE_TAG.match(new_tag):
        raise GeneratorError(path, f"{new_tag!r} is not an image tag")
    root = _compose(text, path)
    entry = _image_entry(root, app, path)
    if entry is not None:
        spliced = _splice_values(text, entry, {"newName": new_name, "newTag": new_tag})
        if spliced is not None:
            return spliced
    data = load_round_trip(text, path)
    set_image_entry(data, app, new_name, new_tag)
    return dump_round_trip(data, text)


def set_image_entry(data: CommentedMap, app: str, new_name: str, new_tag: str) -> None:
    """The round-trip form of :func:`set_image`, on an already loaded overlay."""
    images = data.get("images")
    if not isinstance(images, list):
        images = CommentedSeq()
        data["images"] = images
    entry = next((e for e in images if isinstance(e, dict) and e.get("name") == app), None)
    if entry is None:
        entry = CommentedMap(name=app)
        images.append(entry)
    entry["newName"] = new_name
    entry["newTag"] = new_tag
    entry.pop("digest", None)  # a digest would win over the tag


def ensure_managed(
    text: str,
    *,
    app: str,
    namespace: str,
    new_name: str,
    ingress_host: str | None,
    path: str = OVERLAY_FILE,
) -> str:
    """Re-add to a user's overlay only what the generator cannot work without: the base
    in ``resources``, a ``namespace``, the ``images:`` entry named ``app`` and, when the
    app has an Ingress, a patch that gives it this environment's host. Values already
    there (the user's tag, replicas, patches) are kept; with nothing missing the text
    comes back unchanged, byte for byte."""
    if not _needs_completion(load_plain(text, path), app, ingress_host):
        return text  # the common case, without the slower round trip
    data = load_round_trip(text, path)
    changed = False
    if "namespace" not in data:
        data.insert(_after(data, "kind"), "namespace", namespace)
        changed = True
    resources = data.get("resources")
    if not isinstance(resources, list):
        data.insert(_after(data, "namespace"), "resources", CommentedSeq([BASE]))
        changed = True
    elif not any(str(item).rstrip("/") == BASE for item in resources):
        resources.insert(0, BASE)
        changed = True
    if ingress_host and not _has_ingress_patch(data, app):
        patches = data.get("patches")
        if not isinstance(patches, list):
            patches = CommentedSeq()
            data.insert(_before(data, "images"), "patches", patches)
        patches.append(ingress_host_patch(app, ingress_host))
        changed = True
    images = data.get("images")
    if not isinstance(images, list) or not any(
        isinstance(e, dict) and e.get("name") == app for e in images
    ):
        set_image_entry(data, app, new_name, PLACEHOLDER_TAG)
        changed = True
    return dump_round_trip(data, text) if changed else text


def _needs_completion(data: dict[str, Any], app: str, ingress_host: str | None) -> bool:
    resources = data.get("resources")
    images = data.get("images")
    return (
        "namespace" not in data
        or not isinstance(resources, list)
        or not any(str(item).rstrip("/") == BASE for item in resources)
        or bool(ingress_host and not _has_ingress_patch(data, app))
        or not isinstance(images, list)
        or not any(isinstance(e, dict) and e.get("name") == app for e in images)
    )


def ingress_host_patch(app: str, host: str) -> CommentedMap:
    """The JSON patch that gives the app's Ingress ``host`` in one environment."""
    operations = f"- op: replace\n  path: /spec/rules/0/host\n  value: {host}\n"
    return CommentedMap(
        target=CommentedMap(kind="Ingress", name=app),
        patch=LiteralScalarString(operations),
    )


def _has_ingress_patch(data: dict[str, Any], app: str) -> bool:
    for patch in data.get("patches") or []:
        if not isinstance(patch, dict):
            continue
        target = patch.get("target") or {}
        if (
            isinstance(target, dict)
            and target.get("kind") == "Ingress"
            and target.get("name") in (None, app)
        ):
            return True
        if "kind: Ingress" in str(patch.get("patch", "")):
            return True
    return False


def _after(data: CommentedMap, key: str) -> int:
    keys = list(data)
    return keys.index(key) + 1 if key in keys else len(keys)


def _before(data: CommentedMap, key: str) -> int:
    keys = list(data)
    return keys.index(key) if key in keys else len(keys)


def components(text: str, path: str = OVERLAY_FILE) -> tuple[str, ...]:
    """The overlay's ``components:`` entries."""
    entries = load_plain(text, path).get("components")
    if not isinstance(entries, list):
        return ()
    return tuple(str(item) for item in entries if isinstance(item, str))


def load_plain(text: str, path: str = OVERLAY_FILE) -> dict[str, Any]:
    """Load an overlay for reading only (LibYAML: no comments kept, far faster)."""
    data = yamlio.load(text, path)
    if not isinstance(data, dict):
        raise GeneratorError(path, "must be a Kustomization mapping")
    return data


def load_round_trip(text: str, path: str = OVERLAY_FILE) -> CommentedMap:
    """Load an overlay for editing; a non-mapping or malformed file is a GeneratorError."""
    loader = yamlio.round_trip_yaml()
    loader.preserve_quotes = True  # so that the dump writes each scalar as it was quoted
    data = yamlio.round_trip_load(text, path, loader)
    if not isinstance(data, CommentedMap):
        raise GeneratorError(path, "must be a Kustomization mapping")
    return data


def dump_round_trip(data: Any, original: str) -> str:
    """Dump ``data`` with the indentation style of ``original``."""
    out = io.StringIO()
    _round_trip_yaml(original).dump(data, out)
    return out.getvalue()


def _round_trip_yaml(text: str) -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a user's long lines
    try:
        # Guessing loads the text once more: bounded like every load of a user's YAML.
        yamlio.check_size(text)
        _, indent, offset = load_yaml_guess_indent(text, yaml=yamlio.round_trip_yaml())
    except (YAMLError, yamlio.YAMLError, ValueError):
        indent, offset = None, None
    if indent is not None and offset is not None:
        yaml.indent(mapping=max(2, indent - offset), sequence=indent, offset=offset)
    else:
        yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _compose(text: str, path: str) -> MappingNode:
    root = yamlio.round_trip_compose(text, path)
    if not isinstance(root, MappingNode):
        raise GeneratorError(path, "must be a Kustomization mapping")
    return root


def _mapping_value(node: MappingNode, key: str) -> Node | None:
    return next((v for k, v in node.value if isinstance(k, ScalarNode) and k.value == key), None)


def _scalar_items(node: MappingNode) -> list[tuple[str, ScalarNode]]:
    return [
        (str(k.value), v)
        for k, v in node.value
        if isinstance(k, ScalarNode) and isinstance(v, ScalarNode)
    ]


def _image_entry(root: MappingNode, app: str, path: str) -> MappingNode | None:
    images = _mapping_value(root, "images")
    if images is None or (isinstance(images, ScalarNode) and images.value in ("", "~", "null")):
        return None
    if not isinstance(images, SequenceNode):
        raise GeneratorError(path, "images: must be a list")
    for item in images.value:
        if isinstance(item, MappingNode):
            name = _mapping_value(item, "name")
            if isinstance(name, ScalarNode) and name.value == app:
                return item
    return None


def _splice_values(text: str, entry: MappingNode, wanted: dict[str, str]) -> str | None:
    """Replace scalar values in place; None when that is not possible (a key is missing,
    a value is an anchor, alias or block scalar, or a digest must go)."""
    if _mapping_value(entry, "digest") is not None:
        return None
    nodes = dict(_scalar_items(entry))
    edits: list[tuple[int, int, str]] = []
    for key, value in wanted.items():
        node = nodes.get(key)
        if node is None or node.anchor or node.style in ("|", ">"):
            return None
        if node.value != value:
            edits.append((node.start_mark.index, node.end_mark.index, _scalar(value, node.style)))
    if len({id(nodes.get(key)) for key in wanted}) != len(wanted):
        return None  # one aliased node serving two keys
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _scalar(value: str, style: str | None) -> str:
    """``value`` as a YAML scalar in the original's quoting style, plain only when no YAML
    version (Kustomize's Go parser follows 1.1) could read it as anything but this string."""
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"' or not _reads_back(value):
        return json.dumps(value)
    return value


def _reads_back(value: str) -> bool:
    if not _PLAIN_SAFE.match(value):
        return False
    for directive in ("%YAML 1.1\n---\n", ""):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ruamel warns about 1.1 floats it reads
                loaded = YAML(typ="safe", pure=True).load(f"{directive}k: {value}\n")
        except YAMLError:
            return False
        if loaded != {"k": value}:
            return False
    return True
