"""Detection of static sites: an ``index.html`` with nothing to build, served as it is by
the same unprivileged nginx that serves single-page app builds."""

from __future__ import annotations

from generators.detect import register
from generators.model import Stack
from generators.source import SourceTree

DOCROOTS = (".", "public", "site", "www")
PORT = 8080  # nginx-unprivileged's port: no root needed


@register("static")
def detect_static(tree: SourceTree) -> Stack | None:
    docroot = next((d for d in DOCROOTS if tree.is_file(f"{d}/index.html")), None)
    if docroot is None:
        return None
    where = "index.html" if docroot == "." else f"{docroot}/index.html"
    return Stack(
        language="static",
        framework=None,
        package_manager=None,
        runtime_version="1.27.3",  # the nginx that serves it
        version_source="default",
        start_command=("nginx", "-g", "daemon off;"),
        port=PORT,
        health_path="/",  # nginx answers for index.html as soon as it listens
        template="static",
        options={"docroot": docroot},
        evidence=(f"found {where}", "no build step: files served by nginx (unprivileged)"),
    )
