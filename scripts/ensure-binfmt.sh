#!/bin/sh
# Let this machine run arm64 containers under emulation, idempotently: mount binfmt_misc when absent,
# install Debian's qemu-user-static and binfmt-support when missing, and register the aarch64 handler.
# Needs root. Called by `make setup` (Makefile: emulation); builds for amd64 never need it.
set -eu

binfmt=/proc/sys/fs/binfmt_misc
handler=$binfmt/qemu-aarch64

if [ -e "$handler" ] && grep -q '^enabled' "$handler" && grep -q '^flags:.*F' "$handler"; then
    exit 0
fi

if [ ! -e "$binfmt/register" ]; then
    echo "ensure-binfmt: mounting binfmt_misc on $binfmt"
    mount -t binfmt_misc binfmt_misc "$binfmt"
fi

if [ ! -x /usr/bin/qemu-aarch64-static ] || ! command -v update-binfmts >/dev/null 2>&1; then
    echo "ensure-binfmt: installing qemu-user-static binfmt-support"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user-static binfmt-support
fi

# The package's postinst registers its handlers only when binfmt_misc was mounted at install time, and
# a machine that reboots loses them: import them again. The F (fix binary) flag lets containers use the
# host's interpreter, which is not inside their root filesystem.
if [ -e "$handler" ] && ! grep -q '^enabled' "$handler"; then
    echo "ensure-binfmt: enabling the qemu-aarch64 handler"
    echo 1 >"$handler" # registered but disabled: update-binfmts --enable would not re-register it
elif [ ! -e "$handler" ]; then
    echo "ensure-binfmt: registering the qemu-aarch64 handler"
    update-binfmts --enable qemu-aarch64 2>/dev/null || update-binfmts --import qemu-aarch64
fi
if [ ! -e "$handler" ] || ! grep -q '^enabled' "$handler"; then
    echo "ensure-binfmt: $handler is still not enabled; see \`update-binfmts --display qemu-aarch64\`" >&2
    exit 1
fi
if ! grep -q '^flags:.*F' "$handler"; then
    echo "ensure-binfmt: $handler lacks the F flag: containers cannot reach qemu-aarch64-static" >&2
    echo "ensure-binfmt: remove it (echo -1 > $handler) and run this again" >&2
    exit 1
fi
echo "ensure-binfmt: aarch64 binaries run under $(sed -n 's/^interpreter //p' "$handler")"
