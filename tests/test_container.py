"""The container wrapper's file reads, against the real engine."""

from __future__ import annotations

from pathlib import Path

import docker

from builder.container import Container


def test_read_file_returns_content_or_none(docker_client: docker.DockerClient) -> None:
    with Container(docker_client, "debian:12", "test") as c:
        c.put_bytes(b"a % & b\n\x00end", "/tmp/x y", "f 1.txt")
        assert c.read_file("/tmp/x y/f 1.txt") == b"a % & b\n\x00end"
        assert c.read_file("/tmp/x y/missing") is None
        assert c.read_file("/no/such/dir/file") is None
        assert c._streams == []  # every archive stream was closed: removal never waits on one


def test_copy_files_out_streams_the_packages_and_keeps_the_index(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    """One stream: the top-level *.rpm files to disk, the small files under `keep` in memory (dnf's
    repodata, which a second read would cost an extra archive stream); nothing else, no symlinks."""
    with Container(docker_client, "debian:12", "test") as c:
        c.put_bytes(b"rpm 1", "/tmp/tree", "a 100% & b.rpm")
        c.put_bytes(b"rpm 2", "/tmp/tree", "-b.rpm")
        c.put_bytes(b"not a package", "/tmp/tree", "notes.txt")
        c.put_bytes(b"top", "/tmp/tree/repodata", "repomd.xml")
        c.put_bytes(b"\x00deep", "/tmp/tree/repodata/sub dir", "b.gz")
        c.put_bytes(b"nested", "/tmp/tree/elsewhere", "c.rpm")
        c.run(["ln", "-s", "a 100% & b.rpm", "/tmp/tree/link.rpm"], "a symlink is not a regular file")
        files, kept = c.copy_files_out("/tmp/tree/", tmp_path, ".rpm", "repodata")
        assert [f.name for f in files] == sorted(["-b.rpm", "a 100% & b.rpm"])
        assert [f.read_bytes() for f in files] == [b"rpm 2", b"rpm 1"]
        assert kept == {"repodata/repomd.xml": b"top", "repodata/sub dir/b.gz": b"\x00deep"}
        assert c.copy_files_out("/tmp/tree", tmp_path / "none", ".deb")[1] == {}
        assert c._streams == []
