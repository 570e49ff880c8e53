"""Detection of .NET apps from their .csproj/.fsproj: the project to publish (ASP.NET Core
first), the SDK from global.json, the target framework, and the health route."""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from generators.detect import register
from generators.detect.versions import resolve
from generators.errors import GeneratorError
from generators.model import Stack
from generators.source import SourceTree

TFM_RE = re.compile(r"^net(?:coreapp)?(\d+\.\d+)")
HEALTH_RE = re.compile(r"MapHealthChecks\(\s*\"(/[^\"]*)\"")
URL_PORT_RE = re.compile(r"\"https?://(?:\*|\+|0\.0\.0\.0|localhost)?:(\d{2,5})\"")
PORT = 8080  # the port .NET 8's images listen on; set explicitly for older runtimes


@dataclass(frozen=True)
class Project:
    """What a project file says."""

    path: str
    web: bool
    exe: bool
    test: bool
    target: str | None  # "8.0" from net8.0
    assembly: str
    packages: frozenset[str]


@register("dotnet")
def detect_dotnet(tree: SourceTree) -> Stack | None:
    files = [*tree.glob(".csproj"), *tree.glob(".fsproj")]
    if not files:
        return None
    projects = [_project(tree, rel) for rel in sorted(files)]
    apps = [p for p in projects if not p.test and (p.web or p.exe)]
    if not apps:
        return None  # class libraries only: nothing to run
    app = next((p for p in apps if p.web), apps[0])
    evidence = [f"found {app.path}" + (" (Microsoft.NET.Sdk.Web)" if app.web else "")]
    sdk = _global_sdk(tree)
    version, source = resolve(tree, "dotnet", (sdk, "global.json"), (app.target, app.path))
    evidence.append(f"{source} -> dotnet {version}")
    runtime = app.target or ".".join(version.split(".")[:2])
    project_dir = posixpath.dirname(app.path)
    locked = tree.is_file(posixpath.join(project_dir, "packages.lock.json"))
    if locked:
        evidence.append("packages.lock.json -> dotnet restore --locked-mode")
    prefix = f"{project_dir}/" if project_dir else ""
    sources = [f for f in tree.files if f.endswith((".cs", ".fs")) and f.startswith(prefix)]
    health = _search(tree, sources, HEALTH_RE)
    port_text = _search(tree, sources, URL_PORT_RE)
    port = int(port_text) if port_text else PORT
    if "Microsoft.EntityFrameworkCore.Design" in app.packages:
        evidence.append("EF Core migrations: set 'migrate' in .github/autostack.yml")
    return Stack(
        language="dotnet",
        framework="aspnetcore" if app.web else None,
        package_manager="nuget",
        runtime_version=version,
        version_source=source,
        start_command=("dotnet", f"/app/{app.assembly}.dll"),
        port=port,
        health_path=health,
        template="dotnet",
        options={
            "project": app.path,
            "sdk_tag": sdk or runtime,
            "runtime_tag": runtime,
            "runtime_image": "aspnet" if app.web else "runtime",
            "locked": "1" if locked else "0",
        },
        evidence=tuple(evidence),
        serves_http=app.web or port_text is not None,
    )


def _project(tree: SourceTree, rel: str) -> Project:
    try:
        root = ET.fromstring(tree.read_text(rel))
    except ET.ParseError as exc:
        raise GeneratorError(tree.display(rel), f"malformed XML: {exc}") from exc
    if root.tag != "Project":
        raise GeneratorError(tree.display(rel), f"root element is <{root.tag}>, not <Project>")
    props = {
        child.tag: (child.text or "").strip()
        for group in root.iter("PropertyGroup")
        for child in group
    }
    packages = frozenset(
        ref.get("Include", "") for ref in root.iter("PackageReference") if ref.get("Include")
    )
    frameworks = props.get("TargetFramework") or props.get("TargetFrameworks", "").split(";")[0]
    match = TFM_RE.match(frameworks)
    stem = posixpath.splitext(posixpath.basename(rel))[0]
    assembly = props.get("AssemblyName") or stem
    return Project(
        path=rel,
        web=root.get("Sdk", "").startswith("Microsoft.NET.Sdk.Web"),
        exe=props.get("OutputType", "").lower() in ("exe", "winexe"),
        test=props.get("IsTestProject", "").lower() == "true"
        or "Microsoft.NET.Test.Sdk" in packages,
        target=match.group(1) if match else None,
        # Used in a path and an exec-form CMD: keep to MSBuild's usual alphabet.
        assembly=re.sub(r"[^A-Za-z0-9._-]", "_", assembly),
        packages=packages,
    )


def _global_sdk(tree: SourceTree) -> str | None:
    if not tree.is_file("global.json"):
        return None
    data = tree.read_json("global.json")
    sdk = data.get("sdk") if isinstance(data, dict) else None
    version = sdk.get("version") if isinstance(sdk, dict) else None
    if version is not None and not (
        isinstance(version, str) and re.fullmatch(r"\d+\.\d+\.\d+(?:-[\w.]+)?", version)
    ):
        raise GeneratorError(tree.display("global.json"), f"invalid sdk.version {version!r}")
    return version


def _search(tree: SourceTree, files: list[str], pattern: re.Pattern[str]) -> str | None:
    for rel in files:
        match = pattern.search(tree.read_text(rel))
        if match:
            return match.group(1)
    return None
