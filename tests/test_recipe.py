"""The recipe loader, the distro table and image resolution, and the plan built from them."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from builder.azure.limits import MAX_FIELD_CHARS, check_field
from builder.distros import CONFIG_ENV, DISTROS, configured_images, get_distro, resolve_image
from builder.errors import InputError, RecipeError
from builder.plan import make_plan
from builder.recipe import Repository, load_recipe
from builder.render import render_commands
from builder.resources import data_dir
from tests.narrow import linux_plan

MINIMAL = """\
name: jq
version: 1.0.0
linux:
  packages: [jq]
"""
SHIPPED = sorted(p.stem for p in data_dir("recipes").glob("*.yaml"))


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No configuration file from the environment or the working directory leaks into these tests."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    yield


def write(directory: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def recipe_error(tmp_path: Path, text: str, key: str) -> RecipeError:
    """Load a broken recipe: the error must name the file and the key."""
    path = write(tmp_path, text)
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    error = caught.value
    assert error.key == key
    assert error.path == path
    assert str(error).startswith(f"{path}: {key}: " if key else f"{path}: ")
    assert error.exit_code == 2
    return error


def with_linux(linux: str) -> str:
    return "name: jq\nversion: 1.0.0\nlinux:\n" + textwrap.indent(textwrap.dedent(linux), "  ")


# -- valid recipes --------------------------------------------------------------------------------------


def test_minimal_recipe(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, MINIMAL))
    assert recipe.name == "jq"
    assert recipe.version == "1.0.0"
    assert recipe.description == ""
    assert recipe.linux is not None
    assert recipe.linux.packages == ("jq",)
    assert recipe.linux.repositories == ()
    assert recipe.linux.check is None
    assert recipe.linux.recommends is False
    assert recipe.linux_overrides == {}
    assert recipe.linux_for("debian-12") == recipe.linux
    assert recipe.raw == yaml.safe_load(MINIMAL)


def test_full_recipe(tmp_path: Path) -> None:
    recipe = load_recipe(
        write(
            tmp_path,
            """\
            name: my-tools_2
            version: 2024.1.15
            description: "jq and curl: tools"
            linux:
              packages: [jq, curl=7.88.1-10+deb12u15, "libc6:amd64", jq-doc, g++]
              check: jq --version && curl --version
              recommends: true
            """,
        )
    )
    assert recipe.description == "jq and curl: tools"
    assert recipe.linux is not None
    assert recipe.linux.packages == ("jq", "curl=7.88.1-10+deb12u15", "libc6:amd64", "jq-doc", "g++")
    assert recipe.linux.check == "jq --version && curl --version"
    assert recipe.linux.recommends is True
    plan = linux_plan(make_plan(recipe, "debian-12", tmp_path / "dist"))
    assert plan.package_names == ("jq", "curl", "libc6:amd64", "jq-doc", "g++")
    assert plan.out_dir == tmp_path / "dist" / "my-tools_2" / "2024.1.15" / "debian-12"
    assert plan.package_file_name == "my-tools_2.tar.gz"


def test_integer_like_version_parts_are_read_as_text(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, MINIMAL.replace("1.0.0", "'0.0.0'")))
    assert recipe.version == "0.0.0"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_recipe_loads_plans_and_renders(name: str, tmp_path: Path) -> None:
    recipe = load_recipe(name)
    assert recipe.path == data_dir("recipes") / f"{name}.yaml"
    assert recipe.name == name
    distros = list(recipe.targets) or ["debian-12", *recipe.linux_overrides]  # a recipe may target some only
    distros = distros if recipe.linux else []  # Windows-only recipes: tests/test_windows_units.py
    for distro in distros:
        plan = linux_plan(make_plan(recipe, distro, tmp_path / "dist"))
        assert plan.packages or plan.tarball  # something to ship
        assert plan.image == DISTROS[distro].image
        commands = render_commands(plan)
        for kind, command in commands.as_dict().items():
            assert check_field(kind, command).level == "ok", f"{name} on {distro}: {kind}"
            assert len(command) <= MAX_FIELD_CHARS
        assert plan.package_file_name in commands.install


def test_there_are_shipped_recipes() -> None:
    assert {"jq", "git", "curl"} <= set(SHIPPED)


def test_shipped_recipe_by_path_is_the_same(tmp_path: Path) -> None:
    path = data_dir("recipes") / "jq.yaml"
    assert load_recipe(path) == load_recipe("jq")
    assert load_recipe(str(path)).linux == load_recipe("jq").linux


# -- top level errors -----------------------------------------------------------------------------------


def test_missing_name(tmp_path: Path) -> None:
    error = recipe_error(tmp_path, "version: 1.0.0\nlinux:\n  packages: [jq]\n", "name")
    assert "missing" in error.message


@pytest.mark.parametrize("name", ["my app", "app.", "a/b", "x" * 81, "''"])
def test_bad_name(tmp_path: Path, name: str) -> None:
    recipe_error(tmp_path, MINIMAL.replace("name: jq", f"name: {name}"), "name")


@pytest.mark.parametrize("version", ["'1.0'", "1.0.0.0", "v1.0.0", "2147483648.0.0", "1"])
def test_bad_version(tmp_path: Path, version: str) -> None:
    error = recipe_error(tmp_path, MINIMAL.replace("1.0.0", version), "version")
    assert "The gallery application version name is invalid" in error.message


def test_version_read_as_a_float_says_to_quote_it(tmp_path: Path) -> None:
    error = recipe_error(tmp_path, MINIMAL.replace("1.0.0", "1.0"), "version")
    assert "1.0 was read as a number" in error.message
    assert error.hint is not None and "quote" in error.hint
    assert 'hint: quote it, e.g. "1.0.0"' in str(error)


def test_version_of_the_wrong_type(tmp_path: Path) -> None:
    error = recipe_error(tmp_path, MINIMAL.replace("1.0.0", "[1, 0, 0]"), "version")
    assert "expected a string, got list" in error.message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    error = recipe_error(tmp_path, MINIMAL + "colour: blue\n", "colour")
    assert "unknown key" in error.message
    assert error.hint is not None
    allowed = error.hint.removeprefix("allowed here: ").split(", ")
    assert {"name", "version", "description", "linux"} <= set(allowed)
    assert "colour" not in allowed
    assert allowed == sorted(allowed)


def test_missing_linux(tmp_path: Path) -> None:
    error = recipe_error(tmp_path, "name: jq\nversion: 1.0.0\n", "linux")
    assert "missing" in error.message


def test_linux_not_a_mapping(tmp_path: Path) -> None:
    recipe_error(tmp_path, "name: jq\nversion: 1.0.0\nlinux: [jq]\n", "linux")


def test_unknown_linux_key(tmp_path: Path) -> None:
    error = recipe_error(tmp_path, with_linux("packages: [jq]\npackage: [curl]\n"), "linux.package")
    assert error.hint is not None and "packages" in error.hint


def test_recommends_must_be_a_boolean(tmp_path: Path) -> None:
    recipe_error(tmp_path, with_linux("packages: [jq]\nrecommends: 'yes'\n"), "linux.recommends")


# -- packages -------------------------------------------------------------------------------------------


def test_packages_missing(tmp_path: Path) -> None:
    error = recipe_error(tmp_path, with_linux("check: jq --version\n"), "linux.packages")
    assert "missing" in error.message


def test_packages_empty(tmp_path: Path) -> None:
    error = recipe_error(tmp_path, with_linux("packages: []\n"), "linux.packages")
    assert "at least one" in error.message


@pytest.mark.parametrize(("value", "kind"), [("jq", "str"), ("{jq: 1}", "dict"), ("7", "int")])
def test_packages_not_a_list(tmp_path: Path, value: str, kind: str) -> None:
    error = recipe_error(tmp_path, with_linux(f"packages: {value}\n"), "linux.packages")
    assert f"expected a list, got {kind}" in error.message


@pytest.mark.parametrize(
    "package",
    [
        "-oAPT::x",
        "--allow-unauthenticated",
        "a;b",
        "a b",
        "$(touch pwned)",
        "`id`",
        "a|b",
        "a&b",
        "a>b",
        "'a'",
        "",
        "*",
        "../x",
        "jq\ttab",
    ],
)
def test_hostile_package_names_are_rejected(tmp_path: Path, package: str) -> None:
    path = write(tmp_path, "")
    path.write_text(yaml.safe_dump({"name": "jq", "version": "1.0.0", "linux": {"packages": ["ok", package]}}))
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    assert caught.value.key == "linux.packages[1]"
    assert repr(package) in caught.value.message
    assert str(path) in str(caught.value)


def test_package_name_with_a_trailing_newline_is_rejected(tmp_path: Path) -> None:
    recipe_error(tmp_path, with_linux('packages: ["jq\\n"]\n'), "linux.packages[0]")


def test_package_that_is_not_a_string(tmp_path: Path) -> None:
    recipe_error(tmp_path, with_linux("packages: [jq, [curl]]\n"), "linux.packages[1]")


def test_package_listed_twice(tmp_path: Path) -> None:
    error = recipe_error(tmp_path, with_linux("packages: [jq, curl, jq]\n"), "linux.packages")
    assert "twice" in error.message


# -- per-distro overrides -------------------------------------------------------------------------------


def test_override_replaces_packages_only_for_that_distro(tmp_path: Path) -> None:
    recipe = load_recipe(
        write(
            tmp_path,
            with_linux(
                """\
                packages: [jq]
                check: jq --version
                recommends: true
                distros:
                  ubuntu-18.04:
                    packages: [jq, libonig4]
                  debian-11:
                    check: jq -h
                """
            ),
        )
    )
    assert recipe.linux_for("debian-12").packages == ("jq",)
    ubuntu = recipe.linux_for("ubuntu-18.04")
    assert ubuntu.packages == ("jq", "libonig4")
    assert ubuntu.check == "jq --version" and ubuntu.recommends is True  # the rest is inherited
    debian11 = recipe.linux_for("debian-11")
    assert debian11.packages == ("jq",) and debian11.check == "jq -h"
    assert linux_plan(make_plan(recipe, "ubuntu-18.04", tmp_path)).packages == ("jq", "libonig4")
    assert linux_plan(make_plan(recipe, "ubuntu-22.04", tmp_path)).packages == ("jq",)
    assert "libonig4" in render_commands(make_plan(recipe, "ubuntu-18.04", tmp_path)).install
    assert "libonig4" not in render_commands(make_plan(recipe, "debian-12", tmp_path)).install


def test_override_with_an_unknown_distro(tmp_path: Path) -> None:
    text = with_linux("packages: [jq]\ndistros:\n  debian-99:\n    packages: [jq]\n")
    error = recipe_error(tmp_path, text, "linux.distros.debian-99")
    assert "unknown distro" in error.message
    assert error.hint is not None
    assert all(name in error.hint for name in DISTROS)


def test_override_not_a_mapping(tmp_path: Path) -> None:
    recipe_error(tmp_path, with_linux("packages: [jq]\ndistros:\n  debian-11: [jq]\n"), "linux.distros.debian-11")
    recipe_error(tmp_path, with_linux("packages: [jq]\ndistros: [debian-11]\n"), "linux.distros")


def test_override_with_an_unknown_key(tmp_path: Path) -> None:
    text = with_linux("packages: [jq]\ndistros:\n  debian-11:\n    distros: {}\n")
    recipe_error(tmp_path, text, "linux.distros.debian-11.distros")


def test_override_packages_are_validated(tmp_path: Path) -> None:
    text = with_linux("packages: [jq]\ndistros:\n  debian-11:\n    packages: ['a;b']\n")
    recipe_error(tmp_path, text, "linux.distros.debian-11.packages[0]")
    text = with_linux("packages: [jq]\ndistros:\n  debian-11:\n    packages: []\n")
    recipe_error(tmp_path, text, "linux.distros.debian-11.packages")


# -- repositories ---------------------------------------------------------------------------------------

REPO = """\
packages: [jq]
repositories:
  - url: {url}
    suite: {suite}
    components: {components}
    key: {key}
"""


def repo_recipe(
    url: str = "https://example.com/apt",
    suite: str = "stable",
    components: str = "[main]",
    key: str = "keys/repo.asc",
    extra: str = "",
) -> str:
    """A recipe with one repository; `extra` is appended to the linux section (indented as there)."""
    return with_linux(REPO.format(url=url, suite=suite, components=components, key=key) + extra)


def test_repository(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, repo_recipe()))
    assert recipe.linux is not None
    (repo,) = recipe.linux.repositories
    assert repo == Repository(
        name="example-com-apt",
        url="https://example.com/apt",
        suite="stable",
        components=("main",),
        architectures=(),
        key=str((tmp_path / "keys" / "repo.asc").resolve()),
    )


def test_repository_key_is_relative_to_the_recipe_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipes = tmp_path / "somewhere" / "recipes"
    recipes.mkdir(parents=True)
    write(recipes, repo_recipe(key="../keys/repo.gpg"))
    monkeypatch.chdir(tmp_path / "somewhere")
    recipe = load_recipe("recipes/recipe.yaml")
    assert recipe.linux is not None
    key = recipe.linux.repositories[0].key
    assert key == str(tmp_path.resolve() / "somewhere" / "keys" / "repo.gpg")
    assert Path(key).is_absolute()


def test_repository_key_url_is_kept(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, repo_recipe(key="https://example.com/key.asc")))
    assert recipe.linux is not None
    assert recipe.linux.repositories[0].key == "https://example.com/key.asc"


def test_flat_repository_needs_no_components(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, repo_recipe(url="file:///srv/repo", suite="./", components="[]")))
    assert recipe.linux is not None
    repo = recipe.linux.repositories[0]
    assert repo.suite == "./" and repo.components == ()
    assert repo.name == "srv-repo"


def test_components_required_for_a_suite(tmp_path: Path) -> None:
    error = recipe_error(tmp_path, repo_recipe(components="[]"), "linux.repositories[0].components")
    assert "flat" in error.message


@pytest.mark.parametrize("url", ["ftp://example.com/apt", "example.com/apt", "http://", "'https://a b'", "'-o x'"])
def test_repository_url_scheme(tmp_path: Path, url: str) -> None:
    error = recipe_error(tmp_path, repo_recipe(url=url), "linux.repositories[0].url")
    assert "http(s):// or file://" in error.message


def test_repository_key_required(tmp_path: Path) -> None:
    text = with_linux("packages: [jq]\nrepositories:\n  - url: https://example.com/apt\n    suite: ./\n")
    error = recipe_error(tmp_path, text, "linux.repositories[0].key")
    assert error.hint is not None and "signing key" in error.hint


def test_repository_components_are_plain_words(tmp_path: Path) -> None:
    recipe_error(tmp_path, repo_recipe(components="[main, 'non free']"), "linux.repositories[0].components[1]")


def test_repository_unknown_key_and_shape(tmp_path: Path) -> None:
    text = repo_recipe(extra="    trusted: yes\n")
    recipe_error(tmp_path, text, "linux.repositories[0].trusted")
    recipe_error(tmp_path, with_linux("packages: [jq]\nrepositories: [https://x]\n"), "linux.repositories[0]")
    recipe_error(tmp_path, with_linux("packages: [jq]\nrepositories: https://x\n"), "linux.repositories")


def test_override_repositories(tmp_path: Path) -> None:
    text = repo_recipe(extra="distros:\n  debian-11:\n    repositories: []\n")
    recipe = load_recipe(write(tmp_path, text))
    assert len(recipe.linux_for("debian-12").repositories) == 1
    assert recipe.linux_for("debian-11").repositories == ()


# -- one set of field checks: the same mistake reads the same in every section ------------------------

WINDOWS_MSI = "name: jq\nversion: 1.0.0\nwindows:\n  installers:\n    - source: app.msi\n"
TARBALL = "name: jq\nversion: 1.0.0\nlinux:\n  tarball:\n    source: app.tar.gz\n    directory: /opt/app\n"
GALLERY_KEY = "gallery:\n  name: g\n  resource_group: rg\n  location: westeurope\n"


def what_is_wrong(tmp_path: Path, text: str, key: str) -> tuple[str, str | None]:
    """The error's own words and hint, without the file and key that differ between sections."""
    error = recipe_error(tmp_path, text, key)
    return error.message.removeprefix(f"{error.path}: {key}: "), error.hint


@pytest.mark.parametrize("sha256", ["'" + "ab" * 31 + "'", "1" * 64, "'" + "ab" * 32 + "\\n'", None])
def test_tarball_and_installer_sha256_share_one_check(tmp_path: Path, sha256: str | None) -> None:
    line = "" if sha256 is None else f"sha256: {sha256}\n"
    linux = what_is_wrong(tmp_path, TARBALL + "    " + line, "linux.tarball.sha256")
    windows = what_is_wrong(tmp_path, WINDOWS_MSI + "      " + line, "windows.installers[0].sha256")
    assert linux[0] == windows[0]


def test_a_number_where_text_belongs_reads_the_same_everywhere(tmp_path: Path) -> None:
    sha = "ab" * 32
    linux = what_is_wrong(tmp_path, with_linux("packages: [jq]\ncheck: 1.5\n"), "linux.check")
    windows = what_is_wrong(
        tmp_path, WINDOWS_MSI + f"      sha256: {sha}\n      check: 1.5\n", "windows.installers[0].check"
    )
    gallery = what_is_wrong(tmp_path, MINIMAL + GALLERY_KEY + "  description: 1.5\n", "gallery.description")
    assert linux == windows == gallery == ("1.5 was read as a number", 'quote it, e.g. "1.0.0"')


# -- files ----------------------------------------------------------------------------------------------


def test_not_yaml(tmp_path: Path) -> None:
    error = recipe_error(tmp_path, "name: [unclosed\nversion: 1.0.0\n", "")
    assert "not valid YAML" in error.message


@pytest.mark.parametrize("text", ["- jq\n- curl\n", "just a string\n", ""])
def test_yaml_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    error = recipe_error(tmp_path, text, "")
    assert "expected a mapping" in error.message


def test_file_that_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    assert str(path) in str(caught.value)
    assert "cannot read" in caught.value.message


def test_missing_recipe_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such recipe file"):
        load_recipe(tmp_path / "nope.yaml")


def test_recipe_name_that_is_not_shipped() -> None:
    with pytest.raises(InputError) as caught:
        load_recipe("nosuch-recipe")
    assert not isinstance(caught.value, RecipeError)
    assert "no recipe named 'nosuch-recipe'" in caught.value.message
    assert caught.value.hint is not None
    assert ", ".join(SHIPPED) in caught.value.hint


# -- distros and images ---------------------------------------------------------------------------------


def test_get_distro() -> None:
    debian = get_distro("debian-12")
    assert (debian.family, debian.image, debian.codename) == ("apt", "debian:12", "bookworm")


def test_unknown_distro_lists_the_known_ones() -> None:
    with pytest.raises(InputError) as caught:
        get_distro("debian-99")
    assert "unknown distro 'debian-99'" in caught.value.message
    assert caught.value.hint is not None
    for name in DISTROS:
        assert name in caught.value.hint
    with pytest.raises(InputError):
        make_plan(load_recipe("jq"), "debian-99", Path("dist"))


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_configured_images(tmp_path: Path) -> None:
    path = config(tmp_path, '[images]\n"debian-12" = "mirror.local/debian:12"\n"ubuntu-22.04" = "u:22"\n')
    assert configured_images(path) == {"debian-12": "mirror.local/debian:12", "ubuntu-22.04": "u:22"}
    assert configured_images(config(tmp_path, "[other]\nx = 1\n")) == {}


def test_configured_images_reject_unknown_distros(tmp_path: Path) -> None:
    path = config(tmp_path, '[images]\n"debian-99" = "x"\n')
    with pytest.raises(InputError) as caught:
        configured_images(path)
    assert f"{path}: images.debian-99: unknown distro" in caught.value.message
    assert caught.value.hint is not None and "debian-12" in caught.value.hint


def test_configured_images_must_be_strings(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="images: expected a table"):
        configured_images(config(tmp_path, '[images]\n"debian-12" = 12\n'))
    with pytest.raises(InputError, match="images: expected a table"):
        configured_images(config(tmp_path, 'images = "debian:12"\n'))


def test_configured_images_bad_toml_or_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not valid TOML"):
        configured_images(config(tmp_path, "[images\n"))
    with pytest.raises(InputError, match="cannot read configuration"):
        configured_images(tmp_path / "missing.toml")


def test_configured_images_from_the_environment_and_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert configured_images() == {}  # neither: no overrides
    (tmp_path / "vmapp-build.toml").write_text('[images]\n"debian-12" = "from-cwd"\n')
    assert configured_images() == {"debian-12": "from-cwd"}
    env_file = tmp_path / "env.toml"
    env_file.write_text('[images]\n"debian-12" = "from-env"\n')
    monkeypatch.setenv(CONFIG_ENV, str(env_file))
    assert configured_images() == {"debian-12": "from-env"}
    explicit = config(tmp_path, '[images]\n"debian-12" = "explicit"\n')
    assert configured_images(explicit) == {"debian-12": "explicit"}


def test_resolve_image_precedence(tmp_path: Path) -> None:
    debian = get_distro("debian-12")
    path = config(tmp_path, '[images]\n"debian-12" = "from-config"\n')
    assert resolve_image(debian, "override:1", path) == "override:1"
    assert resolve_image(debian, None, path) == "from-config"
    assert resolve_image(debian, "", path) == "from-config"
    assert resolve_image(debian, None, None) == "debian:12"
    # the config names another distro only: the table's image for this one
    assert resolve_image(get_distro("debian-11"), None, path) == "debian:11"


def test_resolve_image_override_wins_even_over_a_broken_config(tmp_path: Path) -> None:
    assert resolve_image(get_distro("debian-12"), "override:1", tmp_path / "missing.toml") == "override:1"


def test_plan_uses_the_resolved_image_and_the_package_limit(tmp_path: Path) -> None:
    recipe = load_recipe("jq")
    path = config(tmp_path, '[images]\n"debian-12" = "from-config"\n')
    assert make_plan(recipe, "debian-12", tmp_path, config_path=path).image == "from-config"
    assert make_plan(recipe, "debian-12", tmp_path, image="cli", config_path=path).image == "cli"
    assert make_plan(recipe, "debian-12", tmp_path, max_package_bytes=1000).max_package_bytes == 1000
    assert make_plan(recipe, "debian-12", tmp_path, max_package_bytes=2**40).max_package_bytes == 2**31
