"""The one unauthenticated GitHub call of the App setup flow: exchange the manifest code.

``POST {api}/app-manifests/{code}/conversions`` answers the new App with its private key
and webhook secret, once; the code expires after an hour. Errors never carry the body.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

API_VERSION = "2022-11-28"
TIMEOUT_SECONDS = 15.0


class ConversionError(Exception):
    """GitHub did not turn the code into an App; the message says why and what to do."""


def convert_manifest(
    api_url: str, code: str, *, timeout: float = TIMEOUT_SECONDS
) -> dict[str, Any]:
    """The conversion's JSON body (``id``, ``slug``, ``html_url``, ``pem``, ...)."""
    url = f"{api_url.rstrip('/')}/app-manifests/{quote(code, safe='')}/conversions"
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
    try:
        response = httpx.post(url, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ConversionError(
            f"cannot reach GitHub at {api_url} ({type(exc).__name__}); "
            "check AUTOSTACK_GITHUB_API_URL"
        ) from None
    if response.status_code == 404:
        raise ConversionError(
            "GitHub does not know this code: it was used already or has expired "
            "(codes last one hour); start again at /setup"
        )
    if response.status_code != 201:
        raise ConversionError(f"GitHub answered {response.status_code} to the code exchange")
    try:
        body = response.json()
    except ValueError:
        raise ConversionError("GitHub's answer to the code exchange is not JSON") from None
    if not isinstance(body, dict):
        raise ConversionError("GitHub's answer to the code exchange is not an object")
    return body
