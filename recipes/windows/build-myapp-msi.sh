#!/bin/sh
# Rebuild recipes/windows/myapp.msi from myapp.wxs, reproducibly, and print the SHA-256 that
# recipes/myapp-msi.yaml pins. wixl runs in the Wine image, with the clock (summary information,
# cabinet dates) pinned by faketime; wixl ignores Package/@Id and draws a random package code, which
# is then replaced, in place and at the same length, by the fixed one below.
#   sh recipes/windows/build-myapp-msi.sh      (needs `docker build -t vmapp-build/wine:10 tests/images/wine`)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
image=${WINE_IMAGE:-vmapp-build/wine:10}
docker run --rm --network none -v "$here:/src" -w /tmp "$image" sh -c '
  set -eu
  package_code="{3F5C2A10-7B4D-4E8A-9C61-2D7E5A0B1C03}"
  cp /src/myapp.wxs /src/myapp-readme.txt .
  touch -d "2024-01-01 00:00:00 UTC" myapp-readme.txt
  TZ=UTC faketime -f "2024-01-01 00:00:00" wixl -a x64 -o myapp.msi myapp.wxs
  drawn=$(msiinfo suminfo myapp.msi | sed -n "s/^Revision number (UUID): //p")
  DRAWN="$drawn" FIXED="$package_code" perl -0777 -pi -e "s/\Q\$ENV{DRAWN}\E/\$ENV{FIXED}/g" myapp.msi
  msiinfo suminfo myapp.msi | grep -qF "$package_code"
  cp myapp.msi /src/myapp.msi
'
sha256sum "$here/myapp.msi"
