"""Fast, safe YAML loading for files AutoStack only reads (configuration, rendered output).

Round-trip edits, which must keep comments and layout, use ruamel.yaml (see
``generators/overlay.py``); plain reads use PyYAML's LibYAML loader, which is some twenty
times faster and matters when a repository holds thousands of apps.
"""

from __future__ import annotations

from typing import Any

import yaml

YAMLError = yaml.YAMLError
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """One YAML document as plain Python values; raises :data:`YAMLError`."""
    return yaml.load(text, Loader=_Loader)


def safe_load_all(text: str) -> list[Any]:
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]
