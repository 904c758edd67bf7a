#!/usr/bin/env bash
# Installs the Debian packages listed in infra/debian-packages.txt when running as root
# with apt-get; elsewhere says what to install and carries on (tests needing them skip).
set -u
here="$(cd "$(dirname "$0")" && pwd)"
mapfile -t packages < <(grep -v '^\s*#' "$here/debian-packages.txt" | grep -v '^\s*$')
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: not root or no apt-get; tests that need these Debian packages will skip:" >&2
  echo "  sudo apt-get install ${missing[*]}" >&2
  exit 0
fi
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null \
  || echo "warning: apt-get install failed; tests that need these packages will skip" >&2
exit 0
