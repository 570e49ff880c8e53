"""Turn REST-shaped objects into the shapes GitHub's webhook payloads carry.

Webhook objects are older cousins of the REST ones: users lack ``user_view_type``,
repositories carry ``custom_properties`` but not the network counts, and the App object has
no ``client_id``. GitHub's webhook schemas forbid the extra fields, so they are removed here,
in one place, rather than in every builder.
"""

from __future__ import annotations

from typing import Any

_USER_EXTRAS = ("user_view_type",)
_ACCOUNT_EXTRAS = ("user_view_type", "slug", "created_at", "updated_at")
_REPO_EXTRAS = ("network_count", "subscribers_count")
_APP_EXTRAS = ("client_id", "installations_count")


def _is_user(value: dict[str, Any]) -> bool:
    return "login" in value and "gravatar_id" in value


def _is_repository(value: dict[str, Any]) -> bool:
    return "full_name" in value and "clone_url" in value


def webhook_view(value: Any, key: str = "") -> Any:
    """A copy of ``value`` in webhook shape (recursively)."""
    if isinstance(value, list):
        return [webhook_view(item, key) for item in value]
    if not isinstance(value, dict):
        return value
    shaped = {k: webhook_view(v, k) for k, v in value.items()}
    drop: tuple[str, ...] = ()
    if _is_user(shaped):
        drop = _ACCOUNT_EXTRAS if key == "account" else _USER_EXTRAS
        # Webhook users may omit name and email, but may not carry them as null.
        drop += tuple(k for k in ("name", "email") if k in shaped and shaped[k] is None)
    elif _is_repository(shaped):
        drop = _REPO_EXTRAS
        shaped.setdefault("custom_properties", {})
    elif key == "performed_via_github_app":
        drop = _APP_EXTRAS
    for name in drop:
        shaped.pop(name, None)
    return shaped
