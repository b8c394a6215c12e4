#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build and test Hart Studio, only those missing.
# Runs apt-get as root (directly, or through sudo when available).
set -euo pipefail

packages=(
  build-essential meson ninja-build pkg-config clang libomp-dev libclang-rt-dev
  libglib2.0-dev libjson-glib-dev libpcre2-dev libzip-dev libpng-dev libsqlite3-dev
  libopenblas-dev libsoup-3.0-dev
  libgtk-4-dev libadwaita-1-dev
  xvfb xauth dbus-x11 desktop-file-utils appstream gettext libglib2.0-bin
  python3
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all build dependencies present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
