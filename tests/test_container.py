"""The container wrapper's file reads, against the real engine."""

from __future__ import annotations

import docker

from builder.container import Container


def test_read_file_returns_content_or_none(docker_client: docker.DockerClient) -> None:
    with Container(docker_client, "debian:12", "test") as c:
        c.put_bytes(b"a % & b\n\x00end", "/tmp/x y", "f 1.txt")
        assert c.read_file("/tmp/x y/f 1.txt") == b"a % & b\n\x00end"
        assert c.read_file("/tmp/x y/missing") is None
        assert c.read_file("/no/such/dir/file") is None
        assert c._streams == []  # every archive stream was closed: removal never waits on one


def test_read_tree_returns_every_regular_file_below_a_directory(docker_client: docker.DockerClient) -> None:
    with Container(docker_client, "debian:12", "test") as c:
        c.put_bytes(b"top", "/tmp/tree", "a.xml")
        c.put_bytes(b"\x00deep", "/tmp/tree/sub dir", "b.gz")
        c.run(["ln", "-s", "a.xml", "/tmp/tree/link"], "a symlink is not a regular file")
        assert c.read_tree("/tmp/tree") == {"a.xml": b"top", "sub dir/b.gz": b"\x00deep"}
        assert c.read_tree("/tmp/tree/") == c.read_tree("/tmp/tree")
        assert c._streams == []
