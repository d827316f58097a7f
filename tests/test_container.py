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
