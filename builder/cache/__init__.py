"""The package cache on the host (store) and how a build container is fed from it (feeding)."""

from builder.cache.feeding import Feeding, Summary, Wanted, feed, human, keep
from builder.cache.store import DEFAULT_MAX_SIZE, Entry, Info, PackageCache, default_directory

__all__ = [
    "DEFAULT_MAX_SIZE",
    "Entry",
    "Feeding",
    "Info",
    "PackageCache",
    "Summary",
    "Wanted",
    "default_directory",
    "feed",
    "human",
    "keep",
]
