"""Detection of Java apps built with Maven or Gradle, Spring Boot first: the Java version
the build targets, the build tool's version from its wrapper, and Spring's port and
actuator health endpoint."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from generators import yamlio
from generators.detect import register
from generators.detect.versions import resolve
from generators.errors import GeneratorError
from generators.model import Stack
from generators.source import SourceTree

DEFAULT_MAVEN = "3.9"
DEFAULT_GRADLE = "8.10"
GRADLE_FILES = ("build.gradle.kts", "build.gradle")
WRAPPER_VERSION_RE = re.compile(r"(?:apache-maven|gradle)-(\d+(?:\.\d+){0,2})-(?:bin|all)\.zip")
GRADLE_JAVA_RES = (
    re.compile(r"JavaLanguageVersion\.of\(\s*(\d+)\s*\)"),
    re.compile(r"jvmToolchain\(\s*(\d+)\s*\)"),
    re.compile(r"JavaVersion\.VERSION_(\d+(?:_\d+)?)"),
    re.compile(r"sourceCompatibility\s*=\s*['\"]?(\d+(?:\.\d+)?)"),
)
ACTUATOR = "spring-boot-starter-actuator"
SPRING_CONFIGS = (
    "src/main/resources/application.properties",
    "src/main/resources/application.yml",
    "src/main/resources/application.yaml",
)


@dataclass(frozen=True)
class Build:
    """What the Maven or Gradle build file says."""

    tool: str  # maven | gradle
    file: str
    java: str | None
    spring_boot: bool
    actuator: bool
    shadow: bool = False


@register("java")
def detect_java(tree: SourceTree) -> Stack | None:
    if tree.is_file("pom.xml"):
        build = _maven(tree)
    else:
        gradle_file = next((f for f in GRADLE_FILES if tree.is_file(f)), None)
        if gradle_file is None:
            return None
        build = _gradle(tree, gradle_file)
    evidence = [f"found {build.file}"]
    version, source = resolve(
        tree,
        "java",
        *_version_files(tree),
        (build.java, build.file),
    )
    evidence.append(f"{source} -> java {version}")
    tool_version = _wrapper_version(tree, build.tool, evidence)
    port, health = 8080, None
    if build.spring_boot:
        evidence.append("Spring Boot")
        port, prefix = _spring_config(tree, evidence)
        if build.actuator:
            health = prefix
            evidence.append(f"{ACTUATOR} -> {health}")
    else:
        evidence.append(f"no framework: {build.tool} must build a runnable jar (Main-Class)")
    return Stack(
        language="java",
        framework="spring-boot" if build.spring_boot else None,
        package_manager=build.tool,
        runtime_version=version,
        version_source=source,
        start_command=("java", "-jar", "/app/app.jar"),
        port=port,
        health_path=health,
        template="java",
        options={
            "tool": build.tool,
            "tool_version": tool_version,
            "java_major": _major(version),
            "gradle_task": _gradle_task(build),
            "lockfile": "1" if tree.is_file("gradle.lockfile") else "0",
        },
        evidence=tuple(evidence),
    )


def _major(version: str) -> str:
    parts = version.split(".")
    # Java 8 and earlier are also written 1.8: the feature release is the second number.
    return parts[1] if parts[0] == "1" and len(parts) > 1 else parts[0]


def _version_files(tree: SourceTree) -> list[tuple[str | None, str]]:
    """The JDK version files users write, most specific first."""
    found: list[tuple[str | None, str]] = []
    found.append((_first_line(tree, ".java-version"), ".java-version"))
    sdkman = tree.read_text_or_none(".sdkmanrc")
    if sdkman:
        match = re.search(r"^java\s*=\s*(\S+)", sdkman, flags=re.MULTILINE)
        found.append((match.group(1) if match else None, ".sdkmanrc"))
    heroku = tree.read_text_or_none("system.properties")
    if heroku:
        match = re.search(r"^java\.runtime\.version\s*=\s*(\S+)", heroku, flags=re.MULTILINE)
        found.append((match.group(1) if match else None, "system.properties"))
    return found


def _first_line(tree: SourceTree, rel: str) -> str | None:
    text = tree.read_text_or_none(rel)
    return text.strip().splitlines()[0] if text and text.strip() else None


def _maven(tree: SourceTree) -> Build:
    try:
        root = ET.fromstring(tree.read_text("pom.xml"))
    except ET.ParseError as exc:
        raise GeneratorError(tree.display("pom.xml"), f"malformed XML: {exc}") from exc
    ns = {"m": root.tag[1:].split("}")[0]} if root.tag.startswith("{") else {}
    prefix = "m:" if ns else ""

    def texts(path: str) -> list[str]:
        return [(e.text or "").strip() for e in root.findall(path.replace("{p}", prefix), ns)]

    artifacts = set(texts(".//{p}dependency/{p}artifactId"))
    plugins = set(texts(".//{p}plugin/{p}artifactId"))
    parent = set(texts("./{p}parent/{p}artifactId"))
    java = None
    for prop in ("java.version", "maven.compiler.release", "maven.compiler.source"):
        values = texts(f"./{{p}}properties/{{p}}{prop}")
        if values and values[0] and not values[0].startswith("$"):
            java = values[0]
            break
    boot = bool(
        parent & {"spring-boot-starter-parent"}
        or "spring-boot-maven-plugin" in plugins
        or "spring-boot-dependencies" in artifacts
    )
    return Build("maven", "pom.xml", java, boot, ACTUATOR in artifacts)


def _gradle(tree: SourceTree, rel: str) -> Build:
    text = tree.read_text(rel)
    java = None
    for pattern in GRADLE_JAVA_RES:
        match = pattern.search(text)
        if match:
            java = match.group(1).replace("1_", "1.").replace("_", ".")
            break
    boot = "org.springframework.boot" in text
    shadow = "com.github.johnrengelman.shadow" in text or "com.gradleup.shadow" in text
    return Build("gradle", rel, java, boot, ACTUATOR in text, shadow)


def _wrapper_version(tree: SourceTree, tool: str, evidence: list[str]) -> str:
    """The Maven/Gradle version the project's wrapper pins, so the image runs the same one."""
    rel = (
        ".mvn/wrapper/maven-wrapper.properties"
        if tool == "maven"
        else "gradle/wrapper/gradle-wrapper.properties"
    )
    text = tree.read_text_or_none(rel)
    match = WRAPPER_VERSION_RE.search(text) if text else None
    if match:
        evidence.append(f"{rel} -> {tool} {match.group(1)}")
        return match.group(1)
    return DEFAULT_MAVEN if tool == "maven" else DEFAULT_GRADLE


def _gradle_task(build: Build) -> str:
    if build.spring_boot:
        return "bootJar"
    return "shadowJar" if build.shadow else "jar"


def _spring_config(tree: SourceTree, evidence: list[str]) -> tuple[int, str]:
    """Spring's port and the actuator health path, from application.properties/yml."""
    settings: dict[str, str] = {}
    for rel in SPRING_CONFIGS:
        if tree.is_file(rel):
            if rel.endswith(".properties"):
                settings.update(_properties(tree.read_text(rel)))
            else:
                settings.update(_yaml_settings(tree, rel))
    port = 8080
    raw_port = _placeholder_default(settings.get("server.port", ""))
    if raw_port.isdigit():
        port = int(raw_port)
        evidence.append(f"server.port -> {port}")
    context = settings.get("server.servlet.context-path", "").strip("/")
    base = settings.get("management.endpoints.web.base-path", "/actuator").strip("/")
    path = "/" + "/".join(p for p in (context, base, "health") if p)
    return port, path


def _placeholder_default(value: str) -> str:
    # server.port=${PORT:8081} -> 8081
    match = re.fullmatch(r"\$\{[^:}]+:(\d+)\}", value.strip())
    return match.group(1) if match else value.strip()


def _properties(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        parts = re.split(r"\s*[=:]\s*", line, maxsplit=1)
        if len(parts) == 2:
            found[parts[0]] = parts[1]
    return found


def _yaml_settings(tree: SourceTree, rel: str) -> dict[str, str]:
    # The first document is the default profile; later ones are profile-specific. Spring
    # reads YAML 1.1 (SnakeYAML), as PyYAML does.
    docs = yamlio.load_all(tree.read_text(rel), tree.display(rel))
    flat: dict[str, str] = {}
    if docs and isinstance(docs[0], dict):
        _flatten(docs[0], "", flat)
    return flat


def _flatten(node: dict[object, object], prefix: str, out: dict[str, str]) -> None:
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten(value, name + ".", out)
        elif value is not None:
            out[name] = str(value)
