"""The apt/dpkg output parsers, on output recorded from the real tools (Debian 12, tests/data/apt).

How each recording was made (`apt-get update` first, in a throwaway `debian:12` container):

- apt-show-git / apt-show-jq-curl / apt-show-auditd-liberror-perl / apt-show-bsd-mailx-exim4-base:
  `apt show PKG...` (stdout); apt-show-jq-with-stderr: `apt show jq 2>&1`
- apt-cache-depends-recurse-git / -bsd-mailx: `apt-cache depends --recurse --no-recommends --no-suggests
  --no-conflicts --no-breaks --no-replaces --no-enhances PKG`
- apt-get-unknown*, apt-get-virtual*, apt-get-pinned-missing: `apt-get -q -y -s install` of nosuchpkg-xyz,
  mail-transport-agent and jq=9.9 (stdout and stderr kept apart, as the container API returns them)
- dpkg-deb-f-jq: `dpkg-deb -f jq_*.deb` of the file `apt-get download jq` fetched
- dpkg-s-base-files: `dpkg -s base-files` (a Conffiles field whose first line is empty)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.backends.deb822 import (
    format_paragraph,
    parse_apt_show,
    parse_depends_tree,
    parse_paragraphs,
    parse_relations,
    unknown_packages,
    virtual_providers,
)

DATA = Path(__file__).resolve().parent / "data" / "apt"

MTA_PROVIDERS = [
    "ssmtp",
    "sendmail-bin",
    "postfix",
    "opensmtpd",
    "nullmailer",
    "msmtp-mta",
    "exim4-daemon-light",
    "exim4-daemon-heavy",
    "esmtp-run",
    "dma",
    "courier-mta",
]


def recorded(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def apt_output(stem: str) -> str:
    """What the builder sees for a failed apt-get: stdout followed by stderr (Container's `output`)."""
    return recorded(f"{stem}.stdout.txt") + recorded(f"{stem}.stderr.txt")


def names(groups: list[list[dict[str, str]]]) -> list[list[str]]:
    return [[alt["name"] for alt in group] for group in groups]


# -- parse_paragraphs / format_paragraph ---------------------------------------------------------------


def test_paragraphs_of_apt_show_git_keep_field_order_and_values() -> None:
    (git,) = parse_paragraphs(recorded("apt-show-git.bookworm.txt"))
    assert git["Package"] == "git"
    assert git["Version"] == "1:2.39.5-0+deb12u3"
    assert git["Provides"] == "git-completion, git-core"
    assert list(git)[:4] == ["Package", "Version", "Priority", "Section"]
    assert list(git)[-1] == "Description"
    # a multi-line field: first line, then each continuation line with its leading space
    assert git["Tag"].splitlines()[0] == "devel::lang:perl, devel::library, devel::rcs, implemented-in::c,"
    assert git["Tag"].splitlines()[-1] == " works-with::software:source, works-with::vcs"


def test_paragraphs_split_on_blank_lines() -> None:
    paragraphs = parse_paragraphs(recorded("apt-show-jq-curl.bookworm.txt"))
    assert [p["Package"] for p in paragraphs] == ["jq", "curl"]
    assert paragraphs[1]["Version"] == "7.88.1-10+deb12u15"
    assert "Package" not in paragraphs[0]["Description"]


def test_paragraphs_ignore_apts_cli_warning() -> None:
    text = recorded("apt-show-jq-with-stderr.bookworm.txt")
    assert "WARNING: apt does not have a stable CLI interface" in text
    paragraphs = parse_paragraphs(text)
    assert len(paragraphs) == 1
    assert paragraphs[0]["Package"] == "jq"
    assert not any("WARNING" in key for key in paragraphs[0])


def test_description_continuation_lines_are_kept_exactly() -> None:
    text = recorded("dpkg-deb-f-jq.bookworm.txt")
    (jq,) = parse_paragraphs(text)
    description = jq["Description"].split("\n")
    assert description[0] == "lightweight and flexible command-line JSON processor"
    assert description[1] == " jq is like sed for JSON data \u2013 you can use it to slice"
    assert " ." in description  # the paragraph separators inside the description
    assert description[-1] == " you\u2019d expect."
    assert len(description) == len(text.split("Description:", 1)[1].splitlines())


def test_round_trip_of_a_deb_control_file_is_exact() -> None:
    text = recorded("dpkg-deb-f-jq.bookworm.txt")
    (jq,) = parse_paragraphs(text)
    assert format_paragraph(jq) == text


def test_round_trip_of_apt_show_keeps_multi_line_fields() -> None:
    text = recorded("apt-show-git.bookworm.txt")
    (git,) = parse_paragraphs(text)
    assert format_paragraph(git) == text.rstrip("\n") + "\n"
    assert parse_paragraphs(format_paragraph(git)) == [git]


def test_round_trip_of_a_field_whose_first_line_is_empty() -> None:
    """dpkg's Conffiles (and any field written as `Key:` + continuation lines) comes back unchanged."""
    text = recorded("dpkg-s-base-files.bookworm.txt")
    (base_files,) = parse_paragraphs(text)
    assert base_files["Conffiles"].splitlines()[1].startswith(" /etc/debian_version ")
    assert "Conffiles:\n /etc/debian_version" in format_paragraph(base_files)
    assert format_paragraph(base_files) == text


def test_round_trip_of_several_paragraphs() -> None:
    text = recorded("apt-show-jq-curl.bookworm.txt")
    paragraphs = parse_paragraphs(text)
    rebuilt = "\n".join(format_paragraph(p) for p in paragraphs)
    assert parse_paragraphs(rebuilt) == paragraphs
    assert rebuilt == text.rstrip("\n") + "\n"


# -- parse_relations / parse_apt_show -----------------------------------------------------------------


def test_git_depends_has_versioned_libcurl() -> None:
    (git,) = parse_apt_show(recorded("apt-show-git.bookworm.txt"))
    assert git["package"] == "git"
    assert git["version"] == "1:2.39.5-0+deb12u3"
    assert [{"name": "libcurl3-gnutls", "op": ">=", "version": "7.56.1"}] in git["depends"]
    assert names(git["depends"]) == [
        ["libc6"],
        ["libcurl3-gnutls"],
        ["libexpat1"],
        ["libpcre2-8-0"],
        ["zlib1g"],
        ["perl"],
        ["liberror-perl"],
        ["git-man"],
        ["git-man"],
    ]
    # unversioned relations carry no op/version; epochs and odd versions stay whole
    assert git["depends"][5] == [{"name": "perl"}]
    assert git["depends"][4] == [{"name": "zlib1g", "op": ">=", "version": "1:1.2.2"}]
    assert git["depends"][7] == [{"name": "git-man", "op": ">>", "version": "1:2.39.5"}]
    assert git["depends"][8] == [{"name": "git-man", "op": "<<", "version": "1:2.39.5-."}]
    assert git["depends_line"].startswith("libc6 (>= 2.34), libcurl3-gnutls (>= 7.56.1),")
    assert "pre-depends" not in git
    assert names(git["recommends"]) == [["ca-certificates"], ["patch"], ["less"], ["ssh-client"]]


def test_apt_show_of_two_packages() -> None:
    jq, curl = parse_apt_show(recorded("apt-show-jq-curl.bookworm.txt"))
    assert jq["depends"] == [
        [{"name": "libjq1", "op": "=", "version": "1.6-2.1+deb12u2"}],
        [{"name": "libc6", "op": ">=", "version": "2.34"}],
    ]
    assert curl["package"] == "curl"
    assert [{"name": "libcurl4", "op": "=", "version": "7.88.1-10+deb12u15"}] in curl["depends"]


def test_pre_depends_and_alternatives() -> None:
    auditd, liberror = parse_apt_show(recorded("apt-show-auditd-liberror-perl.bookworm.txt"))
    assert auditd["package"] == "auditd"
    assert auditd["version"] == "1:3.0.9-1"
    assert auditd["pre-depends"] == [[{"name": "init-system-helpers", "op": ">=", "version": "1.54~"}]]
    assert auditd["pre-depends_line"] == "init-system-helpers (>= 1.54~)"
    assert [{"name": "mawk"}, {"name": "gawk"}] in auditd["depends"]
    assert names(auditd["depends"])[:3] == [["libaudit1"], ["libauparse0"], ["mawk", "gawk"]]
    assert auditd["depends"][-1] == [{"name": "libwrap0", "op": ">=", "version": "7.6-4~"}]
    # an architecture qualifier stays part of the name
    assert liberror["depends"] == [[{"name": "perl:any"}]]


def test_alternatives_with_versions() -> None:
    bsd_mailx, exim4_base = parse_apt_show(recorded("apt-show-bsd-mailx-exim4-base.bookworm.txt"))
    assert bsd_mailx["depends"][0] == [{"name": "default-mta"}, {"name": "mail-transport-agent"}]
    assert exim4_base["depends"][2] == [
        {"name": "exim4-config", "op": ">=", "version": "4.94"},
        {"name": "exim4-config-2"},
    ]
    assert names(exim4_base["depends"])[1] == ["cron", "cron-daemon", "anacron", "systemd-sysv"]


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("a", [[{"name": "a"}]]),
        ("a (>= 1), b | c:any", [[{"name": "a", "op": ">=", "version": "1"}], [{"name": "b"}, {"name": "c:any"}]]),
        ("a(<<2)", [[{"name": "a", "op": "<<", "version": "2"}]]),
        ("a (= 1:2.0~rc1+dfsg-3)", [[{"name": "a", "op": "=", "version": "1:2.0~rc1+dfsg-3"}]]),
        ("a,\n b", [[{"name": "a"}], [{"name": "b"}]]),
        ("", []),
    ],
)
def test_parse_relations_syntax(field: str, expected: list[list[dict[str, str]]]) -> None:
    assert parse_relations(field) == expected


# -- parse_depends_tree ---------------------------------------------------------------------------------


def test_tree_of_git_lists_every_package_once() -> None:
    text = recorded("apt-cache-depends-recurse-git.bookworm.txt")
    tree = parse_depends_tree(text)
    heads = [line for line in text.splitlines() if line and not line.startswith(" ")]
    real = [h for h in heads if not h.startswith("<")]
    assert sorted(tree["packages"]) == sorted(real)
    assert len(tree["packages"]) == len(real) == 50
    assert tree["virtual"] == ["perl:any"]
    assert [group[0]["name"] for group in tree["packages"]["git"]] == [
        "libc6",
        "libcurl3-gnutls",
        "libexpat1",
        "libpcre2-8-0",
        "zlib1g",
        "perl",
        "liberror-perl",
        "git-man",
        "git-man",
    ]
    assert tree["packages"]["git-man"] == []
    assert tree["packages"]["gcc-12-base"] == []


def test_tree_keeps_the_dependency_type() -> None:
    tree = parse_depends_tree(recorded("apt-cache-depends-recurse-git.bookworm.txt"))
    perl = tree["packages"]["perl"]
    assert [(g[0]["type"], g[0]["name"]) for g in perl] == [
        ("PreDepends", "dpkg"),
        ("Depends", "perl-base"),
        ("Depends", "perl-modules-5.36"),
        ("Depends", "libperl5.36"),
    ]
    assert all(len(g) == 1 for g in perl)


def test_tree_virtual_alternative_carries_its_providers() -> None:
    tree = parse_depends_tree(recorded("apt-cache-depends-recurse-git.bookworm.txt"))
    (group,) = tree["packages"]["liberror-perl"]
    assert group == [{"type": "Depends", "name": "perl:any", "virtual": True, "providers": ["perl"]}]
    # a plain dependency is not marked virtual and has no providers list
    assert tree["packages"]["git"][0] == [{"type": "Depends", "name": "libc6"}]


def test_tree_groups_alternatives_like_apt_show() -> None:
    """`|Depends:` continues a group: the tree's groups match the Depends field of `apt show`."""
    tree = parse_depends_tree(recorded("apt-cache-depends-recurse-bsd-mailx.bookworm.txt"))
    shown = {e["package"]: e for e in parse_apt_show(recorded("apt-show-bsd-mailx-exim4-base.bookworm.txt"))}
    for package in ("bsd-mailx", "exim4-base"):
        tree_names = [[alt["name"] for alt in group] for group in tree["packages"][package]]
        assert tree_names == names(shown[package]["depends"]), package

    default_mta, mta = tree["packages"]["bsd-mailx"][0]
    assert default_mta == {
        "type": "Depends",
        "name": "default-mta",
        "virtual": True,
        "providers": ["exim4-daemon-light"],
    }
    assert mta["virtual"] is True
    assert sorted(mta["providers"]) == sorted(MTA_PROVIDERS)

    cron_group = tree["packages"]["exim4-base"][1]
    assert [alt["name"] for alt in cron_group] == ["cron", "cron-daemon", "anacron", "systemd-sysv"]
    assert cron_group[1]["providers"] == ["bcron", "systemd-cron", "cron"]
    assert "virtual" not in cron_group[0]


@pytest.mark.parametrize(
    "recording", ["apt-cache-depends-recurse-git.bookworm.txt", "apt-cache-depends-recurse-bsd-mailx.bookworm.txt"]
)
def test_tree_keeps_every_dependency_line_and_its_providers(recording: str) -> None:
    """Each `Depends:`/`|Depends:` line is one alternative; a virtual one gets exactly the lines under it."""
    text = recorded(recording)
    expected: list[tuple[str, str, list[str] | None]] = []
    package = ""
    for line in text.splitlines():
        if not line.startswith(" "):
            package = line
        elif line.startswith("    "):
            providers = expected[-1][2]
            if providers is not None:
                providers.append(line.strip())
        else:
            target = line.split(":", 1)[1].strip()
            expected.append((package, target.strip("<>"), [] if target.startswith("<") else None))
    tree = parse_depends_tree(text)
    parsed = [
        (pkg, alt["name"], alt.get("providers"))
        for pkg, groups in tree["packages"].items()
        for group in groups
        for alt in group
    ]
    assert parsed == expected


def test_tree_virtual_list_is_sorted_and_complete() -> None:
    text = recorded("apt-cache-depends-recurse-bsd-mailx.bookworm.txt")
    tree = parse_depends_tree(text)
    expected = sorted(line[1:-1] for line in text.splitlines() if line.startswith("<"))
    assert tree["virtual"] == expected
    assert "mail-transport-agent" in tree["virtual"]
    assert "debconf-2.0" in tree["virtual"]
    assert not any(name.startswith("<") for name in tree["packages"])


# -- unknown_packages / virtual_providers ---------------------------------------------------------------


def test_unknown_package() -> None:
    assert unknown_packages(recorded("apt-get-unknown.bookworm.stderr.txt")) == ["nosuchpkg-xyz"]
    # asked together with a package that exists, only the unknown one is named
    assert unknown_packages(apt_output("apt-get-unknown-with-known.bookworm")) == ["nosuchpkg-xyz"]


def test_pinned_version_that_does_not_exist() -> None:
    output = apt_output("apt-get-pinned-missing.bookworm")
    assert unknown_packages(output) == ["jq=9.9"]
    assert virtual_providers(output) == {}


def test_virtual_package_providers() -> None:
    output = apt_output("apt-get-virtual-mta.bookworm")
    assert virtual_providers(output) == {"mail-transport-agent": MTA_PROVIDERS}


def test_virtual_package_is_not_reported_unknown() -> None:
    """apt says "has no installation candidate" for a virtual package; its provider list tells it apart."""
    assert unknown_packages(apt_output("apt-get-virtual-mta.bookworm")) == []
    # stderr alone has no provider list: then the name is all apt gives
    assert unknown_packages(recorded("apt-get-virtual.bookworm.stderr.txt")) == ["mail-transport-agent"]
    assert virtual_providers(recorded("apt-get-virtual.bookworm.stderr.txt")) == {}


def test_successful_output_names_nothing() -> None:
    text = recorded("apt-get-simulate-git.bookworm.txt")
    assert unknown_packages(text) == []
    assert virtual_providers(text) == {}
