"""Stack detection for Go, Rust, Java, Ruby, PHP, .NET and Elixir: the example apps,
precedence between the files that say the same thing, and malformed manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generators.detect import detect
from generators.errors import GeneratorError
from generators.model import Stack
from generators.source import SourceTree

APPS = Path(__file__).resolve().parent.parent / "fixtures" / "apps"
PREFIXES = ("go-", "rust-", "java-", "ruby-", "php-", "dotnet-", "elixir-")
EXAMPLES = sorted(p.name for p in APPS.iterdir() if p.is_dir() and p.name.startswith(PREFIXES))
FIELDS = (
    "language",
    "framework",
    "package_manager",
    "runtime_version",
    "start_command",
    "port",
    "health_path",
    "migrate_command",
)


def make_tree(root: Path, files: dict[str, str]) -> SourceTree:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return SourceTree(root)


def detect_files(root: Path, files: dict[str, str]) -> Stack:
    return detect(make_tree(root, files))


def assert_one_line_error(root: Path, files: dict[str, str], file: str, problem: str) -> None:
    with pytest.raises(GeneratorError) as caught:
        detect_files(root, files)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(root / file) + ": "), message
    assert problem in message


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_matches_expected(name: str) -> None:
    expected = json.loads((APPS / name / "expected.json").read_text())
    stack = detect(SourceTree(APPS / name))
    found = {
        field: list(value) if isinstance(value, tuple) else value
        for field in FIELDS
        for value in [getattr(stack, field)]
    }
    assert found == {field: expected[field] for field in FIELDS}
    assert stack.evidence, "detection must say why"


# --- Go -------------------------------------------------------------------------------

GO_MAIN = 'package main\n\nfunc main() {\n\thttp.ListenAndServe(":8081", nil)\n}\n'


def test_go_toolchain_line_beats_go_line(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {"go.mod": "module example.com/a\n\ngo 1.21\n\ntoolchain go1.22.7\n", "main.go": GO_MAIN},
    )
    assert (stack.runtime_version, stack.version_source) == ("1.22.7", "go.mod")
    assert stack.port == 8081
    assert stack.start_command == ("/app/a",)


def test_go_line_beats_tool_versions(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "go.mod": "module example.com/a/v2\n\ngo 1.22.1\n",
            ".tool-versions": "golang 1.20.3\n",
            "main.go": GO_MAIN,
        },
    )
    assert (stack.runtime_version, stack.version_source) == ("1.22.1", "go.mod")
    assert stack.start_command == ("/app/a",)  # a /vN suffix is not the binary's name


def test_go_tool_versions_when_go_mod_has_no_go_line(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "go.mod": "module example.com/a\n",
            ".tool-versions": "golang 1.20.3\n",
            "main.go": GO_MAIN,
        },
    )
    assert (stack.runtime_version, stack.version_source) == ("1.20.3", ".tool-versions")


def test_go_prefers_cmd_main_package_and_framework_port(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "go.mod": (
                "module example.com/svc\n\ngo 1.23\n\nrequire github.com/gofiber/fiber/v2 v2.52.5\n"
            ),
            "cmd/worker-api/main.go": "package main\n\nfunc main() {}\n",
            "internal/x/x.go": "package x\n",
        },
    )
    assert stack.framework == "fiber"
    assert stack.port == 3000  # fiber's documented default; the code names none
    assert stack.start_command == ("/app/worker-api",)
    assert stack.options["build_target"] == "./cmd/worker-api"
    assert stack.health_path is None


def test_go_cgo_module_selects_glibc_image(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "go.mod": (
                "module example.com/a\n\ngo 1.23\n\nrequire github.com/mattn/go-sqlite3 v1.14.22\n"
            ),
            "go.sum": "github.com/mattn/go-sqlite3 v1.14.22 h1:x=\n",
            "main.go": GO_MAIN,
        },
    )
    assert stack.options["cgo"] == "1"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("module example.com/a\n\ngo one.two\n", "line 3: invalid go version 'one.two'"),
        ("module example.com/a\n\nrequire (\n\tgithub.com/x/y v1.0.0\n", "line 3: require block"),
        ("module example.com/a\nfrobnicate x\n", "line 2: unknown directive 'frobnicate'"),
        ("go 1.22\n", "has no module directive"),
    ],
)
def test_go_malformed_go_mod(tmp_path: Path, text: str, problem: str) -> None:
    assert_one_line_error(tmp_path, {"go.mod": text, "main.go": GO_MAIN}, "go.mod", problem)


def test_go_work_use_without_module(tmp_path: Path) -> None:
    assert_one_line_error(
        tmp_path, {"go.work": "go 1.22\n\nuse ./missing\n"}, "go.work", "which has no go.mod"
    )


def test_go_without_main_package(tmp_path: Path) -> None:
    assert_one_line_error(
        tmp_path,
        {"go.mod": "module example.com/lib\n\ngo 1.22\n", "lib.go": "package lib\n"},
        "go.mod",
        "no main package found",
    )


# --- Rust -----------------------------------------------------------------------------

RUST_MAIN = 'fn main() { let _ = std::net::TcpListener::bind("0.0.0.0:7000"); }\n'


def test_rust_toolchain_file_beats_tool_versions(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "Cargo.toml": '[package]\nname = "svc"\nversion = "0.1.0"\n',
            "rust-toolchain": "1.80.1\n",
            ".tool-versions": "rust 1.70.0\n",
            "src/main.rs": RUST_MAIN,
        },
    )
    assert (stack.runtime_version, stack.version_source) == ("1.80.1", "rust-toolchain")
    assert stack.port == 7000
    assert stack.options["locked"] == "0"  # no Cargo.lock: --locked would fail


def test_rust_stable_channel_falls_back_to_tool_versions(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "Cargo.toml": '[package]\nname = "svc"\nversion = "0.1.0"\n',
            "rust-toolchain.toml": '[toolchain]\nchannel = "stable"\n',
            ".tool-versions": "rust 1.70.0\n",
            "src/main.rs": RUST_MAIN,
        },
    )
    assert (stack.runtime_version, stack.version_source) == ("1.70.0", ".tool-versions")


def test_rust_workspace_picks_the_web_binary(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "Cargo.toml": '[workspace]\nmembers = ["crates/*"]\nresolver = "2"\n',
            "Cargo.lock": 'version = 3\n\n[[package]]\nname = "openssl-sys"\nversion = "0.9.103"\n',
            "crates/cli/Cargo.toml": '[package]\nname = "tool"\nversion = "0.1.0"\n',
            "crates/cli/src/main.rs": "fn main() {}\n",
            "crates/web/Cargo.toml": (
                '[package]\nname = "web"\nversion = "0.1.0"\n\n'
                '[[bin]]\nname = "web-server"\npath = "src/main.rs"\n\n'
                '[dependencies]\nrocket = "0.5"\n'
            ),
            "crates/web/src/main.rs": '#[get("/healthz")]\nfn health() {}\nfn main() {}\n',
            "Rocket.toml": "[default]\nport = 8100\n",
        },
    )
    assert stack.framework == "rocket"
    assert stack.start_command == ("/app/web-server",)
    assert stack.options["package"] == "web"
    assert stack.port == 8100
    assert stack.health_path == "/healthz"
    assert stack.options["openssl"] == "1"
    assert stack.options["locked"] == "1"


def test_rust_library_crate_is_not_an_app(tmp_path: Path) -> None:
    tree = make_tree(
        tmp_path,
        {"Cargo.toml": '[package]\nname = "ext"\nversion = "0.1.0"\n', "src/lib.rs": ""},
    )
    from generators.detect.rust import detect_rust

    assert detect_rust(tree) is None


def test_rust_malformed_cargo_toml(tmp_path: Path) -> None:
    assert_one_line_error(
        tmp_path,
        {"Cargo.toml": '[package\nname = "x"\n', "src/main.rs": RUST_MAIN},
        "Cargo.toml",
        "malformed TOML",
    )


# --- Java -----------------------------------------------------------------------------

POM = """<?xml version="1.0"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <parent>
    <groupId>org.springframework.boot</groupId>
    <artifactId>spring-boot-starter-parent</artifactId>
    <version>3.3.2</version>
  </parent>
  <artifactId>svc</artifactId>
  <properties><java.version>{java}</java.version></properties>
  <dependencies>
    <dependency>
      <groupId>org.springframework.boot</groupId>
      <artifactId>spring-boot-starter-actuator</artifactId>
    </dependency>
  </dependencies>
</project>
"""


def test_java_version_file_beats_pom(tmp_path: Path) -> None:
    stack = detect_files(tmp_path, {"pom.xml": POM.format(java="17"), ".java-version": "21.0.4\n"})
    assert (stack.runtime_version, stack.version_source) == ("21.0.4", ".java-version")
    assert stack.options["java_major"] == "21"


def test_java_pom_beats_tool_versions(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {"pom.xml": POM.format(java="17"), ".tool-versions": "java temurin-21.0.2+13.0.LTS\n"},
    )
    assert (stack.runtime_version, stack.version_source) == ("17", "pom.xml")


def test_java_legacy_version_numbering(tmp_path: Path) -> None:
    stack = detect_files(tmp_path, {"pom.xml": POM.format(java="1.8")})
    assert stack.options["java_major"] == "8"


def test_spring_actuator_path_follows_context_and_base_path(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "pom.xml": POM.format(java="21"),
            "src/main/resources/application.properties": (
                "server.port = 9090\n"
                "server.servlet.context-path=/api/\n"
                "management.endpoints.web.base-path=/manage\n"
            ),
        },
    )
    assert (stack.port, stack.health_path) == (9090, "/api/manage/health")


def test_gradle_shadow_plugin_and_lockfile(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "build.gradle": (
                "plugins {\n  id 'java'\n  id 'com.gradleup.shadow' version '8.3.0'\n}\n"
                "java { sourceCompatibility = JavaVersion.VERSION_11 }\n"
            ),
            "gradle.lockfile": "empty=\n",
        },
    )
    assert (stack.framework, stack.runtime_version) == (None, "11")
    assert stack.options["gradle_task"] == "shadowJar"
    assert stack.options["lockfile"] == "1"
    assert stack.health_path is None


def test_java_malformed_pom(tmp_path: Path) -> None:
    assert_one_line_error(
        tmp_path, {"pom.xml": "<project><artifactId>x</project>\n"}, "pom.xml", "malformed XML"
    )


def test_spring_malformed_application_yml(tmp_path: Path) -> None:
    assert_one_line_error(
        tmp_path,
        {
            "pom.xml": POM.format(java="21"),
            "src/main/resources/application.yml": "server:\n  port: [8080\n",
        },
        "src/main/resources/application.yml",
        "malformed YAML",
    )


# --- Ruby -----------------------------------------------------------------------------

SINATRA_LOCK = """GEM
  remote: https://rubygems.org/
  specs:
    puma (6.4.2)
      nio4r (~> 2.0)
    sinatra (4.0.0)
      rack (>= 3.0.0, < 4)

PLATFORMS
  ruby

DEPENDENCIES
  puma
  sinatra

RUBY VERSION
   ruby 3.1.6p260

BUNDLED WITH
   2.5.16
"""


def test_ruby_procfile_beats_config_ru(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "Gemfile": 'gem "sinatra"\ngem "puma"\n',
            "Gemfile.lock": SINATRA_LOCK,
            "config.ru": "run App\n",
            "Procfile": "release: echo hi\nweb: bundle exec puma -p ${PORT:-5000} config.ru\n",
        },
    )
    assert stack.start_command == (
        "/bin/sh",
        "-c",
        "exec bundle exec puma -p ${PORT:-5000} config.ru",
    )
    assert stack.port == 5000


def test_ruby_procfile_without_shell_syntax_is_split(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "Gemfile": 'gem "sinatra"\n',
            "Gemfile.lock": SINATRA_LOCK,
            "config.ru": "run App\n",
            "Procfile": "web: bundle exec rackup --port 4000 --host 0.0.0.0\n",
        },
    )
    assert stack.start_command == (
        "bundle", "exec", "rackup", "--port", "4000", "--host", "0.0.0.0"
    )  # fmt: skip
    assert stack.port == 4000


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {".ruby-version": "ruby-3.3.1\n", "Gemfile": 'ruby "3.2.0"\n'},
            ("3.3.1", ".ruby-version"),
        ),
        ({"Gemfile": 'ruby "3.2.0"\n'}, ("3.2.0", "Gemfile")),
        ({"Gemfile": ""}, ("3.1.6", "Gemfile.lock")),
    ],
)
def test_ruby_version_precedence(
    tmp_path: Path, files: dict[str, str], expected: tuple[str, str]
) -> None:
    files = {**files, "Gemfile.lock": SINATRA_LOCK, "config.ru": "run App\n"}
    files["Gemfile"] = files["Gemfile"] + 'gem "sinatra"\n'
    stack = detect_files(tmp_path, files)
    assert (stack.runtime_version, stack.version_source) == expected


def test_rails_beats_rack_and_plain_sinatra_script(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {"Gemfile": 'gem "sinatra"\n', "hello.rb": "require 'sinatra'\nget('/') { 'hi' }\n"},
    )
    assert stack.start_command == ("bundle", "exec", "ruby", "hello.rb", "-o", "0.0.0.0")
    assert stack.port == 4567
    rails = detect_files(
        tmp_path / "rails",
        {
            "Gemfile": 'gem "rails"\ngem "sinatra"\n',
            "config/application.rb": "module X; end\n",
            "config.ru": "run Rails.application\n",
        },
    )
    assert rails.framework == "rails"
    assert rails.start_command[:3] == ("bundle", "exec", "rails")
    assert rails.health_path is None  # no rails/health#show route


@pytest.mark.parametrize(
    ("lock", "problem"),
    [
        ("<<<<<<< HEAD\nGEM\n=======\n>>>>>>> branch\n", "unresolved merge conflict markers"),
        ('{"gems": []}\n', "is not a Bundler lockfile"),
    ],
)
def test_ruby_malformed_gemfile_lock(tmp_path: Path, lock: str, problem: str) -> None:
    assert_one_line_error(
        tmp_path,
        {"Gemfile": 'gem "sinatra"\n', "Gemfile.lock": lock, "config.ru": "run App\n"},
        "Gemfile.lock",
        problem,
    )


# --- PHP ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {
                "composer.json": (
                    '{"require": {"php": "^8.1"}, "config": {"platform": {"php": "8.2.7"}}}'
                ),
                ".php-version": "8.3.1\n",
            },
            ("8.2.7", "composer.json config.platform.php"),
        ),
        (
            {"composer.json": '{"require": {"php": "^8.1"}}', ".php-version": "8.3.1\n"},
            ("8.3.1", ".php-version"),
        ),
        (
            {
                "composer.json": '{"require": {"php": ">=8.1.4 <9"}}',
                ".tool-versions": "php 8.3.9\n",
            },
            ("8.1", "composer.json require.php"),
        ),
        ({"composer.json": "{}", ".tool-versions": "php 8.3.9\n"}, ("8.3.9", ".tool-versions")),
    ],
)
def test_php_version_precedence(
    tmp_path: Path, files: dict[str, str], expected: tuple[str, str]
) -> None:
    stack = detect_files(tmp_path, {**files, "index.php": "<?php echo 1;\n"})
    assert (stack.runtime_version, stack.version_source) == expected


def test_php_framework_beats_plain_and_extensions(tmp_path: Path) -> None:
    composer = '{"require": {"laravel/framework": "^11.0", "ext-intl": "*", "ext-pcntl": "*"}}'
    plain = detect_files(tmp_path / "plain", {"composer.json": composer})
    assert plain.framework is None  # no artisan: not a Laravel app
    assert plain.options["extensions"] == "opcache pcntl"
    assert any("ext-intl" in line for line in plain.evidence)
    laravel = detect_files(tmp_path / "laravel", {"composer.json": composer, "artisan": ""})
    assert laravel.framework == "laravel"
    assert laravel.health_path is None  # no bootstrap/app.php health route
    assert laravel.options["docroot"] == "public"
    assert laravel.options["locked"] == "0"


def test_php_without_composer(tmp_path: Path) -> None:
    stack = detect_files(tmp_path, {"public/index.php": "<?php echo 'hi';\n"})
    assert (stack.package_manager, stack.options["composer"]) == (None, "0")
    assert stack.options["docroot"] == "public"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"require": {"php": "^8.2",}}', "malformed JSON at line 1"),
        ('["laravel/framework"]', "must be a JSON object"),
        ('{"require": {"php": 8.2}}', "'require' must map package names to version strings"),
    ],
)
def test_php_malformed_composer_json(tmp_path: Path, text: str, problem: str) -> None:
    assert_one_line_error(tmp_path, {"composer.json": text}, "composer.json", problem)


# --- .NET -----------------------------------------------------------------------------

WEB_CSPROJ = (
    '<Project Sdk="Microsoft.NET.Sdk.Web">\n  <PropertyGroup>\n'
    "    <TargetFramework>{tfm}</TargetFramework>\n"
    "    <AssemblyName>Orders</AssemblyName>\n  </PropertyGroup>\n</Project>\n"
)


def test_dotnet_global_json_beats_target_framework(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "Api.csproj": WEB_CSPROJ.format(tfm="net8.0"),
            "global.json": '{"sdk": {"version": "8.0.401"}}',
            ".tool-versions": "dotnet 6.0.425\n",
        },
    )
    assert (stack.runtime_version, stack.version_source) == ("8.0.401", "global.json")
    assert (stack.options["sdk_tag"], stack.options["runtime_tag"]) == ("8.0.401", "8.0")
    assert stack.start_command == ("dotnet", "/app/Orders.dll")


def test_dotnet_target_framework_beats_tool_versions(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "Api.csproj": WEB_CSPROJ.format(tfm="net6.0"),
            ".tool-versions": "dotnet 8.0.401\n",
            "Program.cs": 'app.Urls.Add("http://0.0.0.0:5005");\n',
        },
    )
    assert (stack.runtime_version, stack.version_source) == ("6.0", "Api.csproj")
    assert stack.port == 5005
    assert stack.options["locked"] == "0"


def test_dotnet_console_app_and_library_only(tmp_path: Path) -> None:
    worker = detect_files(
        tmp_path / "worker",
        {
            "Worker.fsproj": (
                '<Project Sdk="Microsoft.NET.Sdk"><PropertyGroup><OutputType>Exe</OutputType>'
                "<TargetFramework>net9.0</TargetFramework></PropertyGroup></Project>"
            )
        },
    )
    assert (worker.framework, worker.options["runtime_image"]) == (None, "runtime")
    assert worker.start_command == ("dotnet", "/app/Worker.dll")
    assert worker.serves_http is False
    from generators.detect.dotnet import detect_dotnet

    library = make_tree(
        tmp_path / "lib",
        {"Lib.csproj": '<Project Sdk="Microsoft.NET.Sdk"><PropertyGroup/></Project>'},
    )
    assert detect_dotnet(library) is None


@pytest.mark.parametrize(
    ("files", "file", "problem"),
    [
        ({"Api.csproj": "<Project><PropertyGroup></Project>"}, "Api.csproj", "malformed XML"),
        ({"Api.csproj": "<Solution/>"}, "Api.csproj", "root element is <Solution>"),
        (
            {
                "Api.csproj": WEB_CSPROJ.format(tfm="net8.0"),
                "global.json": '{"sdk": {"version": 8}}',
            },
            "global.json",
            "invalid sdk.version 8",
        ),
        (
            {"Api.csproj": WEB_CSPROJ.format(tfm="net8.0"), "global.json": '{"sdk": '},
            "global.json",
            "malformed JSON",
        ),
    ],
)
def test_dotnet_malformed_files(
    tmp_path: Path, files: dict[str, str], file: str, problem: str
) -> None:
    assert_one_line_error(tmp_path, files, file, problem)


# --- Elixir ---------------------------------------------------------------------------

MIX_EXS = """defmodule Shop.MixProject do
  use Mix.Project

  def project do
    [app: :shop, version: "0.1.0", elixir: "~> 1.14", deps: deps()]
  end

  defp deps do
    [{:plug_cowboy, "~> 2.7"}, {:ecto_sql, "~> 3.10"}]
  end
end
"""


def test_elixir_tool_versions_beats_mix_requirement(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {"mix.exs": MIX_EXS, "mix.lock": "%{}\n", "mise.toml": '[tools]\nelixir = "1.16.3"\n'},
    )
    assert (stack.runtime_version, stack.version_source) == ("1.16.3", "mise.toml")
    assert stack.options["check_locked"] == "1"


def test_elixir_mix_requirement_and_plain_app(tmp_path: Path) -> None:
    stack = detect_files(tmp_path, {"mix.exs": MIX_EXS, "mix.lock": "%{}\n"})
    assert (stack.runtime_version, stack.version_source) == ("1.14", "mix.exs")
    assert stack.options["check_locked"] == "0"  # mix deps.get --check-locked needs 1.15
    assert stack.framework is None
    assert stack.serves_http is True  # plug_cowboy
    assert stack.start_command == ("/app/bin/shop", "start")
    assert stack.migrate_command is None
    assert any("mix phx.gen.release" in line for line in stack.evidence)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("defmodule X.MixProject do\n  use Mix.Project\nend\n", "defines no project/0 function"),
        ('defmodule X do\n  def project, do: [version: "1.0.0"]\nend\n', "has no 'app: :name'"),
    ],
)
def test_elixir_malformed_mix_exs(tmp_path: Path, text: str, problem: str) -> None:
    assert_one_line_error(tmp_path, {"mix.exs": text}, "mix.exs", problem)


# --- Precedence between languages ------------------------------------------------------


def test_rails_with_package_json_is_ruby(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "Gemfile": 'gem "rails"\n',
            "config/application.rb": "module X; end\n",
            "package.json": '{"scripts": {"start": "node server.js"}}',
        },
    )
    assert (stack.language, stack.framework) == ("ruby", "rails")


def test_phoenix_with_assets_package_json_is_elixir(tmp_path: Path) -> None:
    stack = detect_files(
        tmp_path,
        {
            "mix.exs": MIX_EXS.replace("{:plug_cowboy", '{:phoenix, "~> 1.7"}, {:plug_cowboy'),
            "assets/package.json": '{"scripts": {"deploy": "vite build"}}',
            "package.json": '{"scripts": {"start": "node server.js"}}',
        },
    )
    assert (stack.language, stack.framework) == ("elixir", "phoenix")
