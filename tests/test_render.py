"""The rendered install/remove/update strings, run under /bin/sh (dash on Debian, Ubuntu and here).

No real apt: stub `apt-get`, `dpkg-query` and `dpkg` at the front of PATH record every argv (as JSON
lines, so newlines and quotes survive) and emulate just enough of a VM: a list of installed packages,
which of them were installed automatically, and a dependency map. The stub apt-get installs only what
the sources list it is given offers, so an install that read the VM's own sources would fail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pytest
from jinja2 import meta, nodes

from builder.bundle import write_tar_gz
from builder.plan import BuildPlan, make_plan
from builder.recipe import load_recipe
from builder.render import Commands, environment, render, render_commands

SH = "/bin/sh"  # what the Azure extension runs the strings with
DASH = shutil.which("dash")
MAX_COMMAND_CHARS = 4096

# One program for every stub; it dispatches on the name it was called by.
STUB = textwrap.dedent(
    r"""
    import json, os, sys

    state = os.environ["STUB_STATE"]
    prog = os.path.basename(sys.argv[0])
    args = sys.argv[1:]
    with open(os.path.join(state, "calls.jsonl"), "a") as log:
        log.write(json.dumps({"prog": prog, "argv": args, "cwd": os.getcwd()}) + "\n")

    def read(name):
        try:
            with open(os.path.join(state, name)) as f:
                return [line.strip() for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def write(name, items):
        with open(os.path.join(state, name), "w") as f:
            f.write("".join(i + "\n" for i in items))

    def bare(name):
        return name.split(":")[0]

    if prog == "dpkg":
        if args == ["--print-architecture"]:
            print("amd64")
            sys.exit(0)
        sys.exit("dpkg stub: unexpected " + repr(args))

    if prog == "dpkg-query":
        if args[:1] != ["-W"] or not args[1].startswith("-f="):
            sys.exit("dpkg-query stub: unexpected " + repr(args))
        installed = read("installed")  # printed like `${db:Status-Abbrev} ${binary:Package} ${Version}\n`
        leftovers = [n for n in read("config-files") if n not in installed]
        for name in sorted(installed + leftovers, key=bare):
            print(("ii  " if name in installed else "rc  ") + name + " 1.0-1")
        sys.exit(0)

    if prog == "apt-mark":
        words = [a for a in args if not a.startswith("-") and "::" not in a]
        auto = read("auto")
        if words[:1] in (["showauto"], ["showmanual"]):  # of the names given, or of all installed
            names = words[1:] or [bare(n) for n in read("installed")]
            have = {bare(n) for n in read("installed")}
            show = [n for n in names if bare(n) in have and (bare(n) in auto) == (words[0] == "showauto")]
            print("".join(n + "\n" for n in show), end="")
            sys.exit(0)
        if words[:1] != ["auto"]:
            sys.exit("apt-mark stub: unexpected " + repr(args))
        write("auto", auto + [bare(n) for n in words[1:] if bare(n) not in auto])
        sys.exit(0)

    if prog != "apt-get":  # printargs, and traps for touch/rm: recorded above, nothing else
        sys.exit(0)

    options, flags, words = {}, [], []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-o":
            key, _, value = args[i + 1].partition("=")
            options[key] = value
            i += 2
            continue
        (flags if a.startswith("-") else words).append(a)
        i += 1
    command, names = (words[0], words[1:]) if words else ("", [])
    if command in read("fail"):
        print("E: stub apt-get told to fail " + command, file=sys.stderr)
        sys.exit(100)
    deps = json.load(open(os.path.join(state, "deps.json")))
    installed = read("installed")
    auto = read("auto")
    have = {bare(n) for n in installed}

    if command == "update":
        sys.exit(0)

    if command == "install":
        offered = set()
        for line in open(options.get("Dir::Etc::SourceList", "/etc/apt/sources.list")):
            parts = line.split()
            if parts[:3] == ["deb", "[trusted=yes]", parts[2]] and parts[2].startswith("file:"):
                with open(os.path.join(parts[2][5:], "Packages")) as f:
                    offered |= {l.split()[1] for l in f if l.startswith("Package:")}
                write("repo-seen", sorted(os.listdir(parts[2][5:])))
        wanted = [n.split("=")[0] for n in names]
        for name in wanted:
            if name not in offered:
                print("E: Unable to locate package " + name, file=sys.stderr)
                sys.exit(100)
        todo, new = list(wanted), []
        while todo:
            name = todo.pop(0)
            if name in have or name in new:
                continue
            new.append(name)
            todo += deps.get(name, [])
        for name in new:
            print("Setting up " + name + " ...")
        write("installed", installed + new)
        write("auto", auto + [n for n in new if n not in wanted])
        sys.exit(0)

    if command in ("purge", "remove") and "-s" in flags:
        # what apt would take out: the names and every installed package depending on them
        gone, changed = set(names), True
        while changed:
            dependents = {bare(n) for n in installed if set(deps.get(bare(n), [])) & gone}
            changed = not dependents <= gone
            gone |= dependents
        for name in sorted(gone & have):
            print("Purg " + name + " [1.0-1]")
        sys.exit(0)

    if command in ("purge", "remove"):
        gone = set(names)
        write("installed", [n for n in installed if bare(n) not in gone])
        write("auto", [n for n in auto if n not in gone])
        for name in names:
            print("Purging configuration files for " + name + " ...")
        sys.exit(0)

    if command == "autoremove" and "-s" in flags:
        needed, todo = set(), [bare(n) for n in installed if bare(n) not in auto]
        while todo:
            name = todo.pop()
            if name not in needed:
                needed.add(name)
                todo += deps.get(name, [])
        orphans = sorted(have - needed)  # printed the way apt-get -s autoremove prints them
        print("Reading package lists...\nBuilding dependency tree...\nReading state information...")
        if orphans:
            print("The following packages will be REMOVED:\n  " + " ".join(orphans))
        print("0 upgraded, 0 newly installed, %d to remove and 0 not upgraded." % len(orphans))
        for name in orphans:
            print("Remv " + name + " [1.0-1]")
        sys.exit(0)

    sys.exit("apt-get stub: unexpected " + repr(args))
    """
)

# The "repository": what the bundle offers and what depends on what.
DEPS = {
    "jq": ["libjq1", "libc6"],
    "libjq1": ["libonig5", "libc6"],
    "libonig5": ["libc6"],
    "curl": ["libcurl4", "libc6"],
    "libcurl4": ["libc6"],
    "libc6": [],
    "base-files": [],
}
OFFERED = ["jq", "libjq1", "libonig5", "curl", "libcurl4", "libc6"]
# What the "VM" has before anything is installed: libonig5 is an automatically installed orphan that
# apt would autoremove any time; it was there before, so remove must leave it alone.
VM_INSTALLED = ["base-files", "libc6:amd64", "libonig5"]
VM_AUTO = ["libonig5"]


@dataclass
class VM:
    root: Path
    stubs: Path  # apt-get, dpkg-query, dpkg: in front of the system's PATH
    traps: Path  # printargs, touch, rm: the whole PATH of the quoting tests
    state: Path

    def env(self, quoting: bool = False) -> dict[str, str]:
        path = str(self.traps) if quoting else f"{self.stubs}:/usr/bin:/bin"
        return {"PATH": path, "STUB_STATE": str(self.state), "HOME": str(self.root), "LC_ALL": "C"}

    def run(self, command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SH, "-c", command], cwd=cwd, env=self.env(), capture_output=True, text=True, timeout=120)

    def calls(self, prog: str | None = None) -> list[list[str]]:
        log = self.state / "calls.jsonl"
        if not log.exists():
            return []
        entries = [json.loads(line) for line in log.read_text().splitlines()]
        return [e["argv"] for e in entries if prog is None or e["prog"] == prog]

    def installed(self) -> set[str]:
        return set((self.state / "installed").read_text().split())

    def set_installed(self, names: list[str], auto: list[str]) -> None:
        (self.state / "installed").write_text("".join(n + "\n" for n in names))
        (self.state / "auto").write_text("".join(n + "\n" for n in auto))

    def fail(self, *commands: str) -> None:
        (self.state / "fail").write_text("".join(c + "\n" for c in commands))

    def download_dir(self, app: str, version: str, exist_ok: bool = False) -> Path:
        """Like the extension's /var/lib/waagent/.../<app>/<version>: the package file lands there."""
        path = self.root / "waagent" / app / version
        path.mkdir(parents=True, exist_ok=exist_ok)
        debs = []
        for name in OFFERED:
            deb = self.root / "debs" / f"{name}_1.0-1_amd64.deb"
            deb.parent.mkdir(exist_ok=True)
            deb.write_bytes(b"!<arch>\n" + name.encode())
            debs.append(deb)
        packages = "\n".join(f"Package: {n}\nVersion: 1.0-1\nFilename: ./{n}_1.0-1_amd64.deb\n" for n in OFFERED)
        write_tar_gz(path / f"{app}.tar.gz", debs, {"Packages": packages.encode()})
        return path


@pytest.fixture
def vm(tmp_path: Path) -> VM:
    root = tmp_path.resolve()
    stubs, traps, state = root / "stubs", root / "traps", root / "state"
    for directory, progs in (
        (stubs, ("apt-get", "apt-mark", "dpkg-query", "dpkg")),
        (traps, ("printargs", "touch", "rm")),
    ):
        directory.mkdir()
        for prog in progs:
            stub = directory / prog
            stub.write_text(f"#!{sys.executable}\n{STUB}")
            stub.chmod(0o755)
    state.mkdir()
    (state / "deps.json").write_text(json.dumps(DEPS))
    machine = VM(root, stubs, traps, state)
    machine.set_installed(VM_INSTALLED, VM_AUTO)
    return machine


def write_recipe(directory: Path, packages: list[str], name: str = "jq", extra: str = "") -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nversion: 1.0.0\ndescription: test\nlinux:\n  packages: {json.dumps(packages)}\n{extra}"
    )
    return path


def plan_for(tmp_path: Path, packages: list[str], name: str = "jq", extra: str = "") -> BuildPlan:
    recipes = tmp_path / "recipes"
    recipes.mkdir(parents=True, exist_ok=True)
    recipe = load_recipe(write_recipe(recipes, packages, name, extra))
    plan = make_plan(recipe, "debian-12", tmp_path / "dist", image="debian:12")
    assert isinstance(plan, BuildPlan), "debian-12 is a Linux row"
    return plan


LEDGER_ROOT: list[Path] = []  # per test: the ledger lives under the test's own directory, not /var/lib


@pytest.fixture(autouse=True)
def ledger_root(tmp_path: Path) -> Path:
    root = tmp_path.resolve() / "var-lib-vmapp-build"
    LEDGER_ROOT[:] = [root]
    return root


def ledger(app: str = "jq") -> Path:
    return LEDGER_ROOT[0] / app


def commands_for(tmp_path: Path, packages: list[str], name: str = "jq", extra: str = "") -> Commands:
    return render_commands(plan_for(tmp_path, packages, name, extra), ledger_root=str(LEDGER_ROOT[0]))


def update_of(commands: Commands) -> str:
    assert commands.update is not None, "every Linux target has an update string"
    return commands.update


def option_values(argv: list[str]) -> dict[str, str]:
    return {argv[i + 1].partition("=")[0]: argv[i + 1].partition("=")[2] for i, a in enumerate(argv) if a == "-o"}


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


# -- syntax ---------------------------------------------------------------------------------------------

SYNTAX_SHELLS = sorted({SH, *([DASH] if DASH else [])})


@pytest.mark.parametrize("shell", SYNTAX_SHELLS)
@pytest.mark.parametrize("recipe", ["jq", "git", "curl"])
def test_shipped_recipes_render_to_valid_sh(recipe: str, shell: str, tmp_path: Path) -> None:
    plan = make_plan(load_recipe(recipe), "debian-12", tmp_path, image="debian:12")
    for kind, command in render_commands(plan).as_dict().items():
        result = subprocess.run([shell, "-n", "-c", command], capture_output=True, text=True)
        assert result.returncode == 0, f"{kind}: {result.stderr}"
        assert result.stderr == ""


def test_sh_n_catches_a_broken_string() -> None:
    """The syntax check above can fail: an unterminated `if` is rejected."""
    result = subprocess.run([SH, "-n", "-c", "if true; then echo x"], capture_output=True, text=True)
    assert result.returncode != 0


def test_rendered_strings_are_compact(tmp_path: Path) -> None:
    commands = commands_for(tmp_path, ["jq"])
    for command in commands.as_dict().values():
        assert command.startswith("set -eu\n")
        assert "\n\n" not in command
        assert all(line == line.strip() for line in command.splitlines())
        assert "{{" not in command and "{%" not in command and "{#" not in command


def test_twenty_packages_stay_within_azures_limit(tmp_path: Path) -> None:
    packages = [f"library-package-with-a-long-name-{i:02d}=1:2.39.5-0+deb12u3~bpo12+1" for i in range(20)]
    commands = commands_for(tmp_path, packages)
    for kind, command in commands.as_dict().items():
        assert len(command) <= MAX_COMMAND_CHARS, f"{kind} is {len(command)} characters"
    assert all(p in commands.install for p in packages)
    # remove works from the record of what install added, never from the (pinned) recipe names
    assert "=1:2.39.5" not in commands.remove


def test_no_string_reads_state_from_a_download_directory(tmp_path: Path) -> None:
    """Older version directories outlive the application: state lives in the ledger only."""
    commands = render_commands(plan_for(tmp_path, ["jq"]))
    for command in commands.as_dict().values():
        assert "../" not in command and '"$b/added"' not in command
        assert "L=/var/lib/vmapp-build/jq\n" in command
    assert update_of(commands).splitlines()[:-1] == commands.install.splitlines()[:-1]  # only the message differs


# -- install --------------------------------------------------------------------------------------------


def test_install_uses_only_the_private_apt_state(vm: VM, tmp_path: Path) -> None:
    cwd = vm.download_dir("jq", "1.0.0")
    result = vm.run(commands_for(tmp_path, ["jq"]).install, cwd)
    assert result.returncode == 0, result.stderr
    private = cwd / ".vmapp"

    # the package file in the current directory was extracted into the private repository, which apt
    # read; then the scratch copy went (stale version directories would otherwise keep it for ever)
    assert lines(vm.state / "repo-seen") == sorted(["Packages", *(f"{n}_1.0-1_amd64.deb" for n in OFFERED)])
    assert not (private / "repo").exists() and not (private / "lists").exists()
    assert (private / "sources.list").read_text() == f"deb [trusted=yes] file:{private}/repo ./\n"

    apt_calls = vm.calls("apt-get")
    assert [c for c in apt_calls if "update" in c] and [c for c in apt_calls if "install" in c]
    for argv in apt_calls:
        options = option_values(argv)
        assert options["Dir::Etc::SourceList"] == f"{private}/sources.list"
        assert options["Dir::Etc::SourceParts"] == f"{private}/sources.list.d"
        assert options["Dir::State::Lists"] == f"{private}/lists"
        assert options["Dir::Cache"] == f"{private}/cache"
        assert not any("/etc/apt" in a or "/var/lib/apt" in a or "/var/cache/apt" in a for a in argv)
        # the status file stays the VM's own: dpkg must know what is installed
        assert "Dir::State::status" not in options
    (install,) = [c for c in apt_calls if "install" in c]
    assert install[-2:] == ["install", "jq"]
    assert "-y" in install and "--no-install-recommends" in install
    assert (private / "sources.list.d").is_dir() and not any((private / "sources.list.d").iterdir())


def test_install_records_exactly_the_added_packages(vm: VM, tmp_path: Path) -> None:
    cwd = vm.download_dir("jq", "1.0.0")
    result = vm.run(commands_for(tmp_path, ["jq"]).install, cwd)
    assert result.returncode == 0, result.stderr
    # jq and libjq1 are new; libc6 (as libc6:amd64) and libonig5 were there before
    assert lines(ledger() / "added") == ["jq", "libjq1"]
    assert vm.installed() == {*VM_INSTALLED, "jq", "libjq1"}
    assert "vmapp: installed jq 1.0.0 - the application has added 2 packages" in result.stdout


def test_install_records_a_package_that_had_only_its_configuration_left(vm: VM, tmp_path: Path) -> None:
    """dpkg lists purged-but-configured packages as `rc`: they are not installed, so installing them adds them."""
    (vm.state / "config-files").write_text("libjq1\n")
    cwd = vm.download_dir("jq", "1.0.0")
    result = vm.run(commands_for(tmp_path, ["jq"]).install, cwd)
    assert result.returncode == 0, result.stderr
    assert lines(ledger() / "added") == ["jq", "libjq1"]


def test_install_twice_keeps_the_record(vm: VM, tmp_path: Path) -> None:
    cwd = vm.download_dir("jq", "1.0.0")
    install = commands_for(tmp_path, ["jq"]).install
    assert vm.run(install, cwd).returncode == 0
    second = vm.run(install, cwd)
    assert second.returncode == 0, second.stderr
    assert lines(ledger() / "added") == ["jq", "libjq1"]


def test_install_passes_pins_and_recommends(vm: VM, tmp_path: Path) -> None:
    cwd = vm.download_dir("jq", "1.0.0")
    command = commands_for(tmp_path, ["jq=1.0-1", "curl"], extra="  recommends: true\n").install
    result = vm.run(command, cwd)
    assert result.returncode == 0, result.stderr
    (install,) = [c for c in vm.calls("apt-get") if "install" in c]
    assert install[-3:] == ["install", "jq=1.0-1", "curl"]
    assert "--install-recommends" in install and "--no-install-recommends" not in install
    assert lines(ledger() / "added") == ["curl", "jq", "libcurl4", "libjq1"]


@pytest.mark.parametrize("failing", ["update", "install"])
def test_install_fails_when_apt_get_fails(vm: VM, tmp_path: Path, failing: str) -> None:
    cwd = vm.download_dir("jq", "1.0.0")
    vm.fail(failing)
    result = vm.run(commands_for(tmp_path, ["jq"]).install, cwd)
    assert result.returncode != 0
    assert "vmapp: installed" not in result.stdout
    added = ledger() / "added"
    if failing == "update":
        assert (
            not added.exists() or added.read_text() == ""
        )  # nothing recorded as added  # set -e: nothing after the failed command ran
        assert not [c for c in vm.calls("apt-get") if "install" in c]


def test_install_fails_for_a_package_the_bundle_does_not_have(vm: VM, tmp_path: Path) -> None:
    cwd = vm.download_dir("jq", "1.0.0")
    result = vm.run(commands_for(tmp_path, ["nosuchpkg"], name="jq").install, cwd)
    assert result.returncode == 100
    assert "Unable to locate package nosuchpkg" in result.stderr
    assert vm.installed() == set(VM_INSTALLED)


def test_install_fails_without_the_package_file(vm: VM, tmp_path: Path) -> None:
    cwd = vm.download_dir("jq", "1.0.0")
    (cwd / "jq.tar.gz").unlink()
    result = vm.run(commands_for(tmp_path, ["jq"]).install, cwd)
    assert result.returncode != 0
    assert vm.calls("apt-get") == []


def test_install_refuses_a_download_directory_with_a_space(vm: VM, tmp_path: Path) -> None:
    cwd = vm.download_dir("jq", "1.0 0")
    result = vm.run(commands_for(tmp_path, ["jq"]).install, cwd)
    assert result.returncode == 2
    assert "has a space in its path" in result.stderr
    assert vm.calls() == []


# -- remove ---------------------------------------------------------------------------------------------


def test_remove_purges_only_what_install_added(vm: VM, tmp_path: Path) -> None:
    cwd = vm.download_dir("jq", "1.0.0")
    commands = commands_for(tmp_path, ["jq"])
    assert vm.run(commands.install, cwd).returncode == 0
    before_remove = len(vm.calls("apt-get"))

    result = vm.run(commands.remove, cwd)
    assert result.returncode == 0, result.stderr
    # the VM is back to what it had; libonig5, an orphan from before, is still there
    assert vm.installed() == set(VM_INSTALLED)
    purges = [c[c.index("purge") + 1 :] for c in vm.calls("apt-get")[before_remove:] if "purge" in c]
    assert purges == [["jq", "libjq1"]]  # the recipe's package and its orphaned dependency, at once
    assert not ledger().exists()  # deleted once remove succeeded
    assert "vmapp: removed jq 1.0.0" in result.stdout
    for argv in vm.calls("apt-get")[before_remove:]:
        assert option_values(argv)["Dir::Etc::SourceList"] == f"{cwd}/.vmapp/sources.list"


def test_remove_keeps_a_recipe_package_the_vm_had_before(vm: VM, tmp_path: Path) -> None:
    vm.set_installed([*VM_INSTALLED, "curl", "libcurl4"], [*VM_AUTO, "libcurl4"])
    cwd = vm.download_dir("jq", "1.0.0")
    commands = commands_for(tmp_path, ["jq", "curl"])
    assert vm.run(commands.install, cwd).returncode == 0
    assert lines(ledger() / "added") == ["jq", "libjq1"]
    result = vm.run(commands.remove, cwd)
    assert result.returncode == 0, result.stderr
    assert vm.installed() == {*VM_INSTALLED, "curl", "libcurl4"}
    purged = [p for c in vm.calls("apt-get") if "purge" in c for p in c[c.index("purge") + 1 :]]
    assert "curl" not in purged and "libcurl4" not in purged and "libonig5" not in purged


def test_remove_without_a_record_does_nothing(vm: VM, tmp_path: Path) -> None:
    cwd = vm.root / "waagent" / "jq" / "1.0.0"
    cwd.mkdir(parents=True)
    result = vm.run(commands_for(tmp_path, ["jq"]).remove, cwd)
    assert result.returncode == 0, result.stderr
    assert "nothing to purge" in result.stdout
    assert vm.calls("apt-get") == []
    assert vm.installed() == set(VM_INSTALLED)


def test_remove_keeps_a_dependency_something_else_still_needs(vm: VM, tmp_path: Path) -> None:
    """libjq1 was added by jq's install, but a package installed later still needs it: not an orphan."""
    cwd = vm.download_dir("jq", "1.0.0")
    commands = commands_for(tmp_path, ["jq"])
    assert vm.run(commands.install, cwd).returncode == 0
    deps = {**DEPS, "other-tool": ["libjq1"]}
    (vm.state / "deps.json").write_text(json.dumps(deps))
    vm.set_installed([*sorted(vm.installed()), "other-tool"], [*VM_AUTO, "libjq1"])
    result = vm.run(commands.remove, cwd)
    assert result.returncode == 0, result.stderr
    assert "libjq1" in vm.installed()
    assert "jq" not in vm.installed()


# -- update ---------------------------------------------------------------------------------------------


def test_update_carries_the_ledger_of_older_versions(vm: VM, tmp_path: Path) -> None:
    old = vm.download_dir("jq", "1.0.0")
    old_commands = commands_for(tmp_path / "old", ["jq", "curl"])
    assert vm.run(old_commands.install, old).returncode == 0
    assert lines(ledger() / "added") == ["curl", "jq", "libcurl4", "libjq1"]
    stale = vm.root / "waagent" / "jq" / "0.9.0" / ".vmapp"
    stale.mkdir(parents=True)
    (stale / "added").write_text("base-files\n")  # a stale directory's record (old format): never read

    new = vm.download_dir("jq", "1.1.0")
    new_commands = commands_for(tmp_path / "new", ["jq", "curl"])
    result = vm.run(update_of(new_commands), new)
    assert result.returncode == 0, result.stderr
    # nothing new was installed (all of it is there), yet the record carries what 1.0.0 added
    assert lines(ledger() / "added") == ["curl", "jq", "libcurl4", "libjq1"]
    assert "has added 4 packages" in result.stdout

    # and the new version's remove takes all of it out, leaving the VM as it was
    result = vm.run(new_commands.remove, new)
    assert result.returncode == 0, result.stderr
    assert vm.installed() == set(VM_INSTALLED)


def test_update_adds_what_the_new_version_brings(vm: VM, tmp_path: Path) -> None:
    old = vm.download_dir("jq", "1.0.0")
    assert vm.run(commands_for(tmp_path / "old", ["jq"]).install, old).returncode == 0
    new = vm.download_dir("jq", "1.1.0")
    result = vm.run(update_of(commands_for(tmp_path / "new", ["jq", "curl"])), new)
    assert result.returncode == 0, result.stderr
    assert lines(ledger() / "added") == ["curl", "jq", "libcurl4", "libjq1"]


def test_remove_after_an_update_that_dropped_a_package(vm: VM, tmp_path: Path) -> None:
    old = vm.download_dir("jq", "1.0.0")
    assert vm.run(commands_for(tmp_path / "old", ["jq", "curl"]).install, old).returncode == 0
    new = vm.download_dir("jq", "1.1.0")
    new_commands = commands_for(tmp_path / "new", ["jq"])
    assert vm.run(update_of(new_commands), new).returncode == 0
    assert "curl" in lines(ledger() / "added")  # recorded as added by the application...
    assert vm.run(new_commands.remove, new).returncode == 0
    assert vm.installed() == set(VM_INSTALLED)  # ...and taken out by its remove


def test_install_ignores_stale_directories_and_own_leftovers(vm: VM, tmp_path: Path) -> None:
    """A reinstall lands in a directory an earlier lifecycle left: its records are never read."""
    for version in ("1.0.0", "1.1.0"):
        old = vm.root / "waagent" / "jq" / version / ".vmapp"
        old.mkdir(parents=True)
        (old / "added").write_text("libc6\nlibold\n")
    new = vm.root / "waagent" / "jq" / "1.1.0"
    vm.download_dir("jq", "1.1.0", exist_ok=True)
    result = vm.run(commands_for(tmp_path, ["jq"]).install, new)
    assert result.returncode == 0, result.stderr
    assert lines(ledger() / "added") == ["jq", "libjq1"]


def test_ledger_keeps_only_what_is_still_installed(vm: VM, tmp_path: Path) -> None:
    """added := (old ledger and installed) or (after minus before): a package that left and came back by the
    owner's hand is not the application's."""
    ledger().mkdir(parents=True)
    (ledger() / "added").write_text("curl\nlibonig5\n")  # curl gone since; libonig5 reinstalled by hand
    (ledger() / "upgraded").write_text("")
    cwd = vm.download_dir("jq", "1.0.0")
    result = vm.run(commands_for(tmp_path, ["jq"]).install, cwd)
    assert result.returncode == 0, result.stderr
    assert lines(ledger() / "added") == ["jq", "libjq1", "libonig5"]


def test_install_keeps_the_auto_mark_of_a_recipe_package_the_vm_had(vm: VM, tmp_path: Path) -> None:
    cwd = vm.download_dir("jq", "1.0.0")
    result = vm.run(commands_for(tmp_path, ["jq", "libonig5"]).install, cwd)
    assert result.returncode == 0, result.stderr
    assert "libonig5" in lines(vm.state / "auto")
    assert "libonig5" not in lines(ledger() / "added")


def test_a_dependency_installed_by_hand_while_installed_is_the_owners(vm: VM, tmp_path: Path) -> None:
    """The owner runs `apt-get install libjq1` while jq is installed: apt marks it manual; an update
    and the remove then leave it to the owner."""
    cwd = vm.download_dir("jq", "1.0.0")
    commands = commands_for(tmp_path, ["jq"])
    assert vm.run(commands.install, cwd).returncode == 0
    assert lines(ledger() / "manual") == ["jq"]
    vm.set_installed(sorted(vm.installed()), [*VM_AUTO])  # libjq1 no longer auto: the owner's hand
    new = vm.download_dir("jq", "1.1.0")
    assert vm.run(update_of(commands_for(tmp_path / "new", ["jq"])), new).returncode == 0
    assert lines(ledger() / "added") == ["jq"]
    result = vm.run(commands.remove, new)
    assert result.returncode == 0, result.stderr
    assert vm.installed() == {*VM_INSTALLED, "libjq1"}


def test_a_failed_install_still_records_what_it_added(vm: VM, tmp_path: Path) -> None:
    cwd = vm.download_dir("jq", "1.0.0")
    vm.fail("install")
    result = vm.run(commands_for(tmp_path, ["jq"]).install, cwd)
    assert result.returncode == 100
    assert (ledger() / "added").read_text() == ""  # the stub installed nothing before failing
    vm.fail()
    assert vm.run(commands_for(tmp_path, ["jq"]).install, cwd).returncode == 0
    assert lines(ledger() / "added") == ["jq", "libjq1"]


# -- quoting --------------------------------------------------------------------------------------------

HOSTILE = [
    "a b",
    "$(touch pwned)",
    "'; rm -rf /; '",
    "`touch pwned`",
    "line\nbreak; touch pwned",
    "*",
    "",
    '"$HOME" ${HOME} $0 $@ \\ \\n',
    "-n",
    "a'b\"c",
    "tab\there",
    "; touch pwned &",
    "| touch pwned",
    "~",
    "ünïcödé ✓",
]


def run_printargs(vm: VM, command: str) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    cwd = vm.root / "work"
    cwd.mkdir(exist_ok=True)
    (cwd / "decoy-file").write_text("")  # what an unquoted `*` would expand to
    result = subprocess.run(
        [SH, "-c", command], cwd=cwd, env=vm.env(quoting=True), capture_output=True, text=True, timeout=60
    )
    assert sorted(p.name for p in cwd.iterdir()) == ["decoy-file"], "the command had a side effect"
    assert vm.calls("touch") == [] and vm.calls("rm") == []
    return result, vm.calls("printargs")


@pytest.mark.parametrize("value", HOSTILE, ids=[repr(v) for v in HOSTILE])
def test_sh_filter_passes_the_value_as_one_argument(vm: VM, value: str) -> None:
    command = environment().from_string("printargs {{ v | sh }}").render(v=value)
    result, calls = run_printargs(vm, command)
    assert result.returncode == 0, result.stderr
    assert calls == [[value]]


def test_sh_join_passes_each_value_as_one_argument(vm: VM) -> None:
    command = environment().from_string("printargs {{ vs | sh_join }} end").render(vs=HOSTILE)
    result, calls = run_printargs(vm, command)
    assert result.returncode == 0, result.stderr
    assert calls == [[*HOSTILE, "end"]]


def test_sh_join_of_non_strings_and_of_nothing(vm: VM) -> None:
    command = environment().from_string("printargs {{ vs | sh_join }} {{ n | sh }}").render(vs=[1, 2.5], n=7)
    result, calls = run_printargs(vm, command)
    assert result.returncode == 0, result.stderr
    assert calls == [["1", "2.5", "7"]]
    assert environment().from_string("x{{ vs | sh_join }}y").render(vs=[]) == "xy"


def test_sh_join_refuses_a_string() -> None:
    """A string would be joined character by character: it is an error instead."""
    with pytest.raises(TypeError, match="needs a list"):
        environment().from_string("{{ v | sh_join }}").render(v="jq curl")


def test_unquoted_value_would_have_been_caught(vm: VM) -> None:
    """The harness detects injection: the same value without the filter runs `touch`."""
    cwd = vm.root / "work"
    cwd.mkdir()
    subprocess.run([SH, "-c", "printargs $(touch pwned)"], cwd=cwd, env=vm.env(quoting=True), timeout=60)
    assert vm.calls("touch") == [["pwned"]]


# -- undefined values -----------------------------------------------------------------------------------


def test_missing_variable_raises() -> None:
    with pytest.raises(jinja2.UndefinedError, match="packages"):
        environment().from_string("apt-get install {{ packages | sh_join }}").render()
    with pytest.raises(jinja2.UndefinedError):
        environment().from_string("echo {{ app }}").render()


CONTEXT: dict[str, object] = {
    "app": "jq",
    "ledger": "/var/lib/vmapp-build/jq",
    "version": "1.0.0",
    "package_file": "jq.tar.gz",
    "packages": ["jq"],
    "package_names": ["jq"],
    "recommends": False,
    "parts": [],  # a split closure's earlier parts (builder.split)
    "online": False,
}


def _variables(template: str) -> set[str]:
    """What a template and its includes read from the context (jinja's own analysis)."""
    env = environment()
    ast = env.parse(_source(template))
    found = set(meta.find_undeclared_variables(ast))
    for included in meta.find_referenced_templates(ast):
        assert included is not None
        found |= _variables(included)
    assigned = {node.target.name for node in ast.find_all(nodes.Assign) if isinstance(node.target, nodes.Name)}
    return found - assigned


@pytest.mark.parametrize("template", ["apt/install.sh.j2", "apt/remove.sh.j2", "apt/update.sh.j2"])
def test_shipped_template_with_a_missing_value_raises(template: str) -> None:
    assert render(template, **CONTEXT)  # complete: renders
    needed = _variables(template)
    assert needed <= set(CONTEXT), needed - set(CONTEXT)
    assert {"app", "version"} <= needed
    for key in sorted(needed):
        partial = {k: v for k, v in CONTEXT.items() if k != key}
        with pytest.raises(jinja2.UndefinedError):
            render(template, **partial)


def _source(template: str) -> str:
    env = environment()
    assert env.loader is not None
    return env.loader.get_source(env, template)[0]
