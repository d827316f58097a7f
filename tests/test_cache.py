"""The package cache on the host (builder.cache): the store's LRU, atomic writes and locking, a cache on
another filesystem, the command line, and (docker) real apt builds fed from it: a second build takes
every package from the cache and gives the same bytes, a tampered blob is fetched again, and two
concurrent builds share one cache."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import pytest

from builder.backends.apt import AptInstaller
from builder.backends.apt_output import parse_print_uris
from builder.backends.base import PackageFile, Request
from builder.cache import Feeding, PackageCache
from builder.cache.store import BLOBS, INDEX, STALE_TEMP_SECONDS, TEMP
from builder.closure import _feed, _feeding, _keep
from builder.errors import EnvironmentProblem
from tests.conftest import DISTRO, REPO, run_cli

# Recorded from apt 2.6.1 on debian:12 (`apt-get install --print-uris -qq jq`): without
# Acquire::ForceHash=SHA256, apt prints its "best" hash, MD5 or nothing at all; with it, SHA256.
PRINTED_DEFAULT = """\
'http://deb.debian.org/debian/pool/main/libo/libonig/libonig5_6.9.8-1_amd64.deb' libonig5_6.9.8-1_amd64.deb 187828 MD5Sum:7e359432d638eee2be29dfd20ddcd493
'http://deb.debian.org/debian-security/pool/updates/main/j/jq/libjq1_1.6-2.1%2bdeb12u3_amd64.deb' libjq1_1.6-2.1+deb12u3_amd64.deb 136460 
"""  # noqa: E501, W291
PRINTED_SHA256 = """\
'http://deb.debian.org/debian/pool/main/libo/libonig/libonig5_6.9.8-1_amd64.deb' libonig5_6.9.8-1_amd64.deb 187828 SHA256:59ecfce6d88c7c4b09496ce182b3b8303e8e8477664e009b16ae83a09cd12be7
'http://deb.debian.org/debian-security/pool/updates/main/j/jq/libjq1_1.6-2.1%2bdeb12u3_amd64.deb' libjq1_1.6-2.1+deb12u3_amd64.deb 136460 SHA256:5e9a7081ba10ce826f6d3d103aa9b912170c5adc836e2561000733571995dd5b
'http://deb.debian.org/debian-security/pool/updates/main/j/jq/jq_1.6-2.1%2bdeb12u3_amd64.deb' jq_1.6-2.1+deb12u3_amd64.deb 64432 SHA256:c25f3fda201207ed98b1d63686f2d81b9dfeb99f1ab2d1d35fb3f7b6a1c107dc
"""  # noqa: E501


def test_print_uris_gives_file_size_and_sha256_and_none_for_other_hashes() -> None:
    assert parse_print_uris(PRINTED_DEFAULT) == [
        ("libonig5_6.9.8-1_amd64.deb", 187828, None),
        ("libjq1_1.6-2.1+deb12u3_amd64.deb", 136460, None),
    ]
    assert parse_print_uris(PRINTED_SHA256) == [
        ("libonig5_6.9.8-1_amd64.deb", 187828, "59ecfce6d88c7c4b09496ce182b3b8303e8e8477664e009b16ae83a09cd12be7"),
        (
            "libjq1_1.6-2.1+deb12u3_amd64.deb",
            136460,
            "5e9a7081ba10ce826f6d3d103aa9b912170c5adc836e2561000733571995dd5b",
        ),
        ("jq_1.6-2.1+deb12u3_amd64.deb", 64432, "c25f3fda201207ed98b1d63686f2d81b9dfeb99f1ab2d1d35fb3f7b6a1c107dc"),
    ]
    # A file name that would leave the download directory is never fed (and so never skips the download).
    evil = f"'http://x/a' ../evil.deb 3 SHA256:{'0' * 64}\n'http://x/b' .. 3 SHA256:{'0' * 64}\n"
    assert parse_print_uris(evil) == [("../evil.deb", 3, None), ("..", 3, None)]


# -- the store --------------------------------------------------------------------------------------


def _file(directory: Path, name: str, content: bytes) -> tuple[Path, str]:
    path = directory / name
    path.write_bytes(content)
    return path, hashlib.sha256(content).hexdigest()


def test_put_stores_by_hash_and_keeps_the_source(tmp_path: Path) -> None:
    cache = PackageCache(tmp_path / "cache")
    assert cache.is_empty()
    assert not (tmp_path / "cache").exists()  # nothing is created before a write
    source, sha = _file(tmp_path, "a_1_all.deb", b"package a")
    [entry] = cache.put([(source, sha)])
    assert (entry.name, entry.size) == ("a_1_all.deb", 9)
    blob = tmp_path / "cache" / BLOBS / sha[:2] / sha
    assert blob.read_bytes() == b"package a" and source.read_bytes() == b"package a"
    assert os.stat(blob).st_ino != os.stat(source).st_ino  # copied, never linked
    assert not cache.is_empty()
    assert list((tmp_path / "cache" / TEMP).iterdir()) == []
    with pytest.raises(ValueError, match="not a lowercase hex SHA-256"):
        cache.blob("../../etc/passwd")


def test_lru_evicts_least_recently_used_first(tmp_path: Path) -> None:
    cache = PackageCache(tmp_path / "cache", max_size=30)
    files = [_file(tmp_path, f"{n}.deb", n.encode() * 10) for n in "abcd"]  # 10 bytes each
    for f in files:
        cache.put([f])
        time.sleep(0.01)
    cache.record([files[0][1]], hits=1)  # a is used again: b is now the oldest
    removed = cache.evict()
    assert [e.name for e in removed] == ["b.deb"]
    assert [e.name for e in cache.entries()] == ["c.deb", "d.deb", "a.deb"]
    assert not cache.blob(files[1][1]).exists()
    assert [e.name for e in cache.evict(max_size=10)] == ["c.deb", "d.deb"]
    assert cache.info().size == 10 and cache.info().stats["hits"] == 1
    assert [e.name for e in cache.evict(max_size=0)] == ["a.deb"]
    assert cache.is_empty()


def test_reconcile_adds_orphan_blobs_drops_missing_ones_and_stale_temp_files(tmp_path: Path) -> None:
    cache = PackageCache(tmp_path / "cache")
    kept, gone = _file(tmp_path, "kept.deb", b"kept"), _file(tmp_path, "gone.deb", b"gone")
    cache.put([kept, gone])
    cache.blob(gone[1]).unlink()
    orphan = _file(tmp_path, "orphan", b"orphan")[1]  # a writer died between its rename and the index
    cache.blob(orphan).parent.mkdir(parents=True)
    cache.blob(orphan).write_bytes(b"orphan")
    stale, fresh = tmp_path / "cache" / TEMP / "stale", tmp_path / "cache" / TEMP / "fresh"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"partial")
    old = time.time() - STALE_TEMP_SECONDS - 10
    os.utime(stale, (old, old))
    assert cache.evict() == []
    assert sorted(e.sha256 for e in cache.entries()) == sorted([kept[1], orphan])
    assert not stale.exists() and fresh.exists()  # a live writer's temp file is left alone


def test_a_failed_write_leaves_neither_blob_nor_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = PackageCache(tmp_path / "cache")
    source, sha = _file(tmp_path, "x.deb", b"x" * 4096)

    def broken_copy(src: object, dst: object, length: int = 0) -> None:
        os.write(dst.fileno(), b"x" * 100)  # type: ignore[attr-defined]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copyfileobj", broken_copy)
    with pytest.raises(OSError, match="No space left"):
        cache.put([(source, sha)])
    assert not cache.blob(sha).exists()
    assert list((tmp_path / "cache" / TEMP).iterdir()) == []


def test_a_writer_killed_mid_copy_leaves_no_blob(tmp_path: Path) -> None:
    """SIGKILL while the blob is being written (from a FIFO the test feeds): the partial file is in tmp/
    only, never under its hash, and the cache is otherwise unchanged."""
    cache_dir = tmp_path / "cache"
    fifo = tmp_path / "pkg.deb"
    os.mkfifo(fifo)
    sha = "ab" * 32
    script = "import sys; from pathlib import Path; from builder.cache import PackageCache; " + (
        "PackageCache(Path(sys.argv[1])).put([(Path(sys.argv[2]), sys.argv[3])])"
    )
    writer = subprocess.Popen([sys.executable, "-c", script, str(cache_dir), str(fifo), sha], cwd=REPO)
    try:
        with open(fifo, "wb") as pipe:
            pipe.write(b"p" * (1024 * 1024))
            pipe.flush()
            deadline = time.monotonic() + 30
            while not any(p.stat().st_size > 0 for p in (cache_dir / TEMP).glob("*") if p.is_file()):
                assert time.monotonic() < deadline, "the writer never started its temp file"
                time.sleep(0.05)
            writer.send_signal(signal.SIGKILL)
            writer.wait(30)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    cache = PackageCache(cache_dir)
    assert not cache.blob(sha).exists()
    assert cache.is_empty()
    assert len(list((cache_dir / TEMP).iterdir())) == 1  # removed once stale (test_reconcile...)


_PUTTER = """
import sys, hashlib
from pathlib import Path
from builder.cache import PackageCache
cache, src, tag = PackageCache(Path(sys.argv[1])), Path(sys.argv[2]), sys.argv[3]
for i in range(40):
    files = []
    for name in (f"{tag}-{i}.deb", f"shared-{i}.deb"):
        path = src / name
        path.write_bytes(name.encode() * 50)
        files.append((path, hashlib.sha256(path.read_bytes()).hexdigest()))
    cache.put(files)
    cache.record([], builds=1, misses=2)
"""


def test_concurrent_puts_from_two_processes_lose_no_entry(tmp_path: Path) -> None:
    """Two processes each putting 40 own and 40 shared files (and counting) at once: the flock on the
    index keeps every entry and every count (a read-modify-write without it loses some)."""
    cache_dir = tmp_path / "cache"
    procs = []
    for tag in ("one", "two"):
        src = tmp_path / tag
        src.mkdir()
        procs.append(subprocess.Popen([sys.executable, "-c", _PUTTER, str(cache_dir), str(src), tag], cwd=REPO))
    assert [p.wait(120) for p in procs] == [0, 0]
    cache = PackageCache(cache_dir)
    entries = cache.entries()
    assert len(entries) == 120  # 40 + 40 own, 40 shared
    assert cache.info().stats["builds"] == 80 and cache.info().stats["misses"] == 160
    for e in entries:
        assert hashlib.sha256(cache.blob(e.sha256).read_bytes()).hexdigest() == e.sha256
    assert list((cache_dir / TEMP).iterdir()) == []


def test_concurrent_threads_of_one_process_share_the_lock(tmp_path: Path) -> None:
    cache = PackageCache(tmp_path / "cache")
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: cache.record([], builds=1, hits=i), range(100)))
    assert cache.info().stats["builds"] == 100 and cache.info().stats["hits"] == sum(range(100))


@pytest.fixture
def other_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A directory on another filesystem than tmp_path: /dev/shm (tmpfs) here, /tmp being ext4."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem (/dev/shm) beside the temp directory")
    directory = shm / f"vmapp-cache-test-{uuid.uuid4().hex[:8]}"
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_a_cache_on_another_filesystem_copies_in_and_evicts(tmp_path: Path, other_filesystem: Path) -> None:
    cache = PackageCache(other_filesystem, max_size=8)
    a, b = _file(tmp_path, "a.deb", b"aaaa"), _file(tmp_path, "b.deb", b"bbbbbbbb")
    cache.put([a])
    time.sleep(0.01)
    cache.put([b])
    assert os.stat(cache.blob(a[1])).st_dev != os.stat(a[0]).st_dev
    assert cache.blob(b[1]).read_bytes() == b"bbbbbbbb" and a[0].exists() and b[0].exists()
    assert [e.name for e in cache.evict()] == ["a.deb"]


def test_an_unreadable_index_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / INDEX).write_text("{not json")
    with pytest.raises(EnvironmentProblem, match=r"cannot read .*index\.json") as caught:
        PackageCache(tmp_path).info()
    assert "remove" in (caught.value.hint or "")


def test_a_cache_that_cannot_be_used_is_a_warning_not_a_failed_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreadable index: the build downloads everything (no container is touched before that answer);
    an unwritable cache directory: the finished download is not stored, and the build goes on."""
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / INDEX).write_text("{not json")
    installer = AptInstaller(Request("jq", DISTRO, "apt", "debian:12", ("jq",), ("jq",)))
    assert _feeding(installer, PackageCache(tmp_path / "broken")) is None  # nothing to feed from
    assert "cannot read" in capsys.readouterr().err
    no_container: Any = None
    assert _feed(installer, no_container, None) == (Feeding(), None)
    path, sha = _file(tmp_path, "jq_1_amd64.deb", b"jq")
    (tmp_path / "a-file").write_text("")
    package = PackageFile(path, "jq", "1", "amd64", 2, sha)
    _keep(PackageCache(tmp_path / "a-file" / "cache"), Feeding(), [package])
    assert "not updated" in capsys.readouterr().err


def test_cache_info_and_prune_on_the_command_line(tmp_path: Path) -> None:
    cache = PackageCache(tmp_path / "cache")
    cache.put([_file(tmp_path, f"{n}.deb", n.encode() * 1000) for n in "ab"])
    cache.record([], builds=1, hits=1, misses=3, bytes_hit=1000, bytes_fetched=3000)
    env = {"VMAPP_BUILD_CACHE_DIR": str(tmp_path / "cache")}
    info = run_cli("cache", "info", env=env)
    assert info.returncode == 0, info.stderr
    assert "entries            2" in info.stdout and "hit rate           25.0%" in info.stdout
    pruned = run_cli("cache", "prune", "--max-size", "1K", env=env)
    assert pruned.returncode == 0, pruned.stderr
    assert "removed 1 packages" in pruned.stdout and len(cache.entries()) == 1
    assert run_cli("cache", "prune", "--cache-dir", tmp_path / "none").returncode == 0
    assert not (tmp_path / "none").exists()
    bad = run_cli("cache", "prune", "--max-size", "lots", env=env)
    assert bad.returncode == 2 and "--max-size" in bad.stderr


# -- real builds (docker): the shipped jq on debian-12, three small packages --------------------------


def _build(out: Path, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    # Each run refreshes its own lists (TTL 0), so no closure memo (tests/test_lists.py) stands in for the
    # package cache under test: the solver asks for every file again.
    proc = run_cli("recipe", "jq", "--distro", DISTRO, "--out", out, "--cache-dir", cache_dir, "--lists-ttl", "0")
    assert proc.returncode == 0, proc.stderr
    return proc


def _bundle(out: Path) -> Path:
    [bundle] = out.glob(f"jq/*/{DISTRO}/jq.tar.gz")
    return bundle


def _outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def first_build(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """jq built once into an empty cache: (its output root, the cache)."""
    root = tmp_path_factory.mktemp("cache-build")
    proc = _build(root / "first", root / "cache")
    assert "package cache: 0 of 3 files from the cache" in proc.stderr
    return root / "first", root / "cache"


def test_a_second_build_takes_every_package_from_the_cache(first_build: tuple[Path, Path], tmp_path: Path) -> None:
    first, cache_dir = first_build
    proc = _build(tmp_path / "second", cache_dir)
    assert "package cache: 3 of 3 files from the cache" in proc.stderr and "0 downloaded (0 B)" in proc.stderr
    assert _outputs(tmp_path / "second") == _outputs(first)  # the bundle, manifest and lock: the same bytes
    assert PackageCache(cache_dir).info().stats["hits"] >= 3


def test_a_tampered_blob_is_fetched_again_and_dropped(first_build: tuple[Path, Path], tmp_path: Path) -> None:
    first, cache_dir = first_build
    cache = PackageCache(cache_dir)
    victim = max((e for e in cache.entries() if e.name.endswith(".deb")), key=lambda e: e.size)  # not a bundle
    blob = cache.blob(victim.sha256)
    content = bytearray(blob.read_bytes())
    content[200:204] = b"EVIL"  # the same size: apt alone would keep it
    blob.chmod(0o644)
    blob.write_bytes(bytes(content))
    proc = _build(tmp_path / "tampered", cache_dir)
    assert "2 of 3 files from the cache" in proc.stderr
    assert "1 cached file did not match the index hash: dropped" in proc.stderr
    assert _bundle(tmp_path / "tampered").read_bytes() == _bundle(first).read_bytes()
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == victim.sha256  # the good file, stored again
    assert cache.info().stats["bad"] == 1


def test_two_concurrent_builds_share_one_cache(first_build: tuple[Path, Path], tmp_path: Path) -> None:
    """Two command lines at once on a cache that has one of the three packages: both feed it, both
    store the other two, and the cache ends consistent (every entry's blob hashes to its name)."""
    first, warm = first_build
    cache = PackageCache(tmp_path / "cache")
    smallest = min((e for e in PackageCache(warm).entries() if e.name.endswith(".deb")), key=lambda e: e.size)
    seed = tmp_path / smallest.name
    shutil.copyfile(PackageCache(warm).blob(smallest.sha256), seed)
    cache.put([(seed, smallest.sha256)])
    with ThreadPoolExecutor(2) as pool:
        procs = list(pool.map(lambda n: _build(tmp_path / f"out{n}", tmp_path / "cache"), range(2)))
    for n, proc in enumerate(procs):
        assert "package cache: 1 of 3 files from the cache" in proc.stderr
        assert _bundle(tmp_path / f"out{n}").read_bytes() == _bundle(first).read_bytes()
    entries = cache.entries()
    assert sorted(e.name for e in entries if not e.name.endswith(".deb")) == ["jq.tar.gz"]  # the closure memo's
    assert len(entries) == 4  # and the three packages, each once
    for e in entries:
        assert hashlib.sha256(cache.blob(e.sha256).read_bytes()).hexdigest() == e.sha256
    stats = cache.info().stats
    assert (stats["builds"], stats["hits"], stats["misses"]) == (2, 2, 4)
    assert list((tmp_path / "cache" / TEMP).iterdir()) == []
    assert json.loads((tmp_path / "cache" / INDEX).read_text())["version"] == 1
