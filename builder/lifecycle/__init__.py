"""The Linux VM Application extension's lifecycle, replayed in network-less containers (`vmapp-build verify`).

The extension's own code (shared/AZURE.md, "The lifecycle"): each version runs in
`<EXTENSION_DIR>/<app>/<version>`, mode 0700, with the package saved under packageFileName. Update runs
the new version's update string in the new directory; without one, RemoveForUpdate runs the OLD remove
string in the OLD directory after the package file there was overwritten with the NEW bytes, then the
new install in the new directory. Remove runs the current version's remove string in its directory and
deletes that directory only: older directories stay, also across a reinstall. The owner may install
packages by hand at any time. After each step the package set (and, for tarballs, the files under the
target directory) is checked against what it must be: the VM's own packages and the owner's always
stay, never downgraded; while the application is installed its version's bundle is installed and
nothing beyond what some version since the last remove bundled; after remove, exactly the VM's and
the owner's packages and files are left, and the ledger is gone.

Modules: `build` (a built version and its directory), `vm` (the container's shell and files), `hand`
(the owner's hand installs), `replay` (the lifecycle, checked step by step), `verify` (`verify` for
the package families: install, check, remove; or the replay of an update), `sequence` (the earlier
builds beside a build and the steps `verify --lifecycle` plans across them), `newer` (the VM's
pre-existing newer dependency), `run` (the planned steps replayed, timed and checked), `report`
(their table and JSON), `windows` (the same plan under Wine, each update Azure's replacement).
"""

from builder.lifecycle.build import EXTENSION_DIR, Build, bare, load_build, same_application
from builder.lifecycle.hand import HAND_INSTALL, HAND_INSTALL_DRY_RUN
from builder.lifecycle.replay import Replay
from builder.lifecycle.vm import files_under

__all__ = [
    "EXTENSION_DIR",
    "HAND_INSTALL",
    "HAND_INSTALL_DRY_RUN",
    "Build",
    "Replay",
    "bare",
    "files_under",
    "load_build",
    "same_application",
]
