#!/usr/bin/env bash
# Builds the processor image from the repository's Dockerfile with buildah: no Docker engine and no
# registry needed. The base is the Dockerfile's pinned Node version, assembled offline by base.sh
# (reused when it exists); the Dockerfile itself is built as it is, only its NODE_IMAGE argument
# points at that base. As root: deploy/image/build.sh [TAG]  (default localhost/stolen-card-processor:dev)
set -euo pipefail
cd "$(dirname "$0")/../.."
TAG="${1:-localhost/stolen-card-processor:dev}"
NODE_VERSION=$(sed -n 's/^ARG NODE_IMAGE=node:\([0-9][0-9.]*\)-.*/\1/p' Dockerfile)
[ -n "$NODE_VERSION" ] || { echo "build: no pinned node version in the Dockerfile's ARG NODE_IMAGE" >&2; exit 1; }
base="localhost/node-base:$NODE_VERSION"
NODE_VERSION="$NODE_VERSION" bash deploy/image/base.sh "$base"
started=$(date +%s)
# docker format: OCI images drop HEALTHCHECK.
buildah --storage-driver vfs bud --isolation chroot --pull=never --format docker \
  --build-arg NODE_IMAGE="$base" --tag "$TAG" --file Dockerfile .
echo "build: $TAG built in $(( $(date +%s) - started )) s"
