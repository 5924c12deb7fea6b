#!/usr/bin/env bash
# Builds the linspec image with buildah (no Docker engine needed). The base image is a
# debootstrap'ed Debian bookworm rootfs imported once as localhost/linspec-base:bookworm.
# Usage (as root, from anywhere): deploy/build-image.sh [tag]
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-linspec:latest}
B=(buildah --storage-driver vfs)
if ! "${B[@]}" inspect --type image localhost/linspec-base:bookworm >/dev/null 2>&1; then
  rootfs=$(mktemp -d)
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  debootstrap --variant=minbase bookworm "$rootfs" ${mirror:+"$mirror"} >/dev/null
  cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/" 2>/dev/null || true
  cp /etc/apt/apt.conf.d/99artifact-registry "$rootfs/etc/apt/apt.conf.d/" 2>/dev/null || true
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb
  ctr=$("${B[@]}" from scratch)
  "${B[@]}" copy "$ctr" "$rootfs/" /
  "${B[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  "${B[@]}" commit -q "$ctr" localhost/linspec-base:bookworm
  "${B[@]}" rm "$ctr" >/dev/null
  rm -rf "$rootfs"
fi
"${B[@]}" bud --isolation chroot --layers=false -f deploy/Containerfile -t "$tag" .
echo "built $tag"
