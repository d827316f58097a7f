"""The package file: a deterministic tar.gz, streamed from disk."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from builder.bundle import write_tar_gz
from builder.files import replace_atomically, sha256_file

CONTENTS = {
    "libjq1_1.6-2.1+deb12u2_amd64.deb": b"libjq1 " * 1000,
    "jq_1.6-2.1+deb12u2_amd64.deb": b"jq " * 500,
    "libonig5_6.9.8-1_amd64.deb": os.urandom(4096),
}
EXTRA = {"Packages": b"Package: jq\nVersion: 1.6-2.1+deb12u2\n", "manifest.json": b"{}\n"}
FNAME = 0x08  # gzip header flag: an original file name follows the header


def make_files(directory: Path, order: list[str], mtime: int, mode: int) -> list[Path]:
    """Write the same contents, in a given order, with given mtimes and modes."""
    directory.mkdir(parents=True)
    paths = []
    for name in order:
        path = directory / name
        path.write_bytes(CONTENTS[name])
        path.chmod(mode)
        os.utime(path, (mtime, mtime))
        paths.append(path)
    return paths


def test_same_inputs_same_bytes(tmp_path: Path) -> None:
    files = make_files(tmp_path / "debs", list(CONTENTS), 1_700_000_000, 0o644)
    write_tar_gz(tmp_path / "a.tar.gz", files, EXTRA)
    write_tar_gz(tmp_path / "b.tar.gz", files, EXTRA)
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()


def test_same_bytes_whatever_the_order_mtimes_and_modes_on_disk(tmp_path: Path) -> None:
    names = list(CONTENTS)
    first = make_files(tmp_path / "one", names, 1_000_000_000, 0o600)
    second = make_files(tmp_path / "two", list(reversed(names)), 1_700_000_000, 0o755)
    write_tar_gz(tmp_path / "a.tar.gz", first, EXTRA)
    write_tar_gz(tmp_path / "b.tar.gz", list(reversed(second)), dict(reversed(EXTRA.items())))
    assert (tmp_path / "a.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()


def test_different_contents_different_bytes(tmp_path: Path) -> None:
    """The comparison above can fail: one changed byte changes the package file."""
    files = make_files(tmp_path / "debs", list(CONTENTS), 0, 0o644)
    write_tar_gz(tmp_path / "a.tar.gz", files, EXTRA)
    write_tar_gz(tmp_path / "b.tar.gz", files, {**EXTRA, "manifest.json": b"{ }\n"})
    assert (tmp_path / "a.tar.gz").read_bytes() != (tmp_path / "b.tar.gz").read_bytes()


def test_members_sorted_with_fixed_metadata(tmp_path: Path) -> None:
    files = make_files(tmp_path / "debs", list(CONTENTS), 1_700_000_000, 0o755)
    write_tar_gz(tmp_path / "p.tar.gz", files, EXTRA)
    with tarfile.open(tmp_path / "p.tar.gz") as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == sorted([*CONTENTS, *EXTRA])
        for member in members:
            assert member.isfile()
            assert member.mtime == 0
            assert member.uid == 0 and member.gid == 0
            assert member.uname == "root" and member.gname == "root"
            assert member.mode == 0o644
            extracted = tar.extractfile(member)
            assert extracted is not None
            assert extracted.read() == {**CONTENTS, **EXTRA}[member.name]


def test_members_are_flat_base_names(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "x.deb").write_bytes(b"x")
    write_tar_gz(tmp_path / "p.tar.gz", [deep / "x.deb"])
    with tarfile.open(tmp_path / "p.tar.gz") as tar:
        assert tar.getnames() == ["x.deb"]


def test_gzip_header_has_no_timestamp_and_no_name(tmp_path: Path) -> None:
    files = make_files(tmp_path / "debs", list(CONTENTS), 1_700_000_000, 0o644)
    write_tar_gz(tmp_path / "p.tar.gz", files, EXTRA)
    header = (tmp_path / "p.tar.gz").read_bytes()[:10]
    magic, method, flags, mtime = struct.unpack("<2sBBI", header[:8])
    assert magic == b"\x1f\x8b" and method == 8
    assert mtime == 0
    assert flags & FNAME == 0
    # and the target's own name is nowhere in the file
    assert b"p.tar" not in (tmp_path / "p.tar.gz").read_bytes()


def test_gzip_header_check_can_fail(tmp_path: Path) -> None:
    """What a plain gzip writer produces: a timestamp and the file name, which the bundle must not have."""
    with gzip.open(tmp_path / "plain.gz", "wb") as f:
        f.write(b"x")
    _, _, flags, mtime = struct.unpack("<2sBBI", (tmp_path / "plain.gz").read_bytes()[:8])
    assert mtime != 0 and flags & FNAME


def test_duplicate_member_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Packages").write_bytes(b"x")
    with pytest.raises(ValueError, match="'Packages' given twice"):
        write_tar_gz(tmp_path / "p.tar.gz", [tmp_path / "Packages"], {"Packages": b"y"})


def test_empty_bundle_is_a_valid_archive(tmp_path: Path) -> None:
    write_tar_gz(tmp_path / "p.tar.gz", [])
    with tarfile.open(tmp_path / "p.tar.gz") as tar:
        assert tar.getnames() == []


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    big = tmp_path_factory.mktemp("big") / "big.deb"
    with open(big, "wb") as f:
        block = os.urandom(1024 * 1024)  # incompressible, like the .debs a bundle holds
        for i in range(50):
            f.write(hashlib.sha256(bytes([i])).digest() + block[32:])
    return big


@pytest.mark.parametrize("with_progress", [True, False])
def test_large_file_is_streamed(tmp_path: Path, big_file: Path, with_progress: bool) -> None:
    big = big_file
    size = 50 * 1024 * 1024
    assert big.stat().st_size == size

    reads: list[int] = []
    tracemalloc.start()
    try:
        progress = reads.append if with_progress else None
        write_tar_gz(tmp_path / "p.tar.gz", [big], {"Packages": b"Package: big\n"}, progress=progress)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # memory stays flat: far below the file's size (no timing, just what Python allocated at most)
    assert peak < 16 * 1024 * 1024, f"peak Python allocation {peak} bytes for a {size}-byte file"
    if with_progress:
        assert sum(reads) == size  # every byte of the file went through, and was reported
        assert max(reads) <= 1024 * 1024  # in chunks, never the whole file at once

    with tarfile.open(tmp_path / "p.tar.gz") as tar:
        member = tar.getmember("big.deb")
        assert member.size == size
        extracted = tar.extractfile(member)
        assert extracted is not None
        digest = hashlib.sha256()
        while chunk := extracted.read(1024 * 1024):
            digest.update(chunk)
    assert digest.hexdigest() == sha256_file(big)


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    data = os.urandom(3 * 1024 * 1024 + 17)  # more than one chunk, not a multiple of it
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_replace_atomically(tmp_path: Path) -> None:
    temp = tmp_path / "p.tar.gz.tmp"
    temp.write_bytes(b"new")
    final = tmp_path / "out" / "sub" / "p.tar.gz"
    replace_atomically(temp, final)
    assert final.read_bytes() == b"new" and not temp.exists()
    temp.write_bytes(b"newer")
    replace_atomically(temp, final)
    assert final.read_bytes() == b"newer"
