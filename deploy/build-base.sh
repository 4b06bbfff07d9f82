#!/usr/bin/env bash
# Build the local base image `pulse-base` from Debian packages, for machines that cannot
# pull public images (the Dockerfile's default base is python:3.11-slim from Docker Hub).
#
#   sudo deploy/build-base.sh            # then: podman build --build-arg BASE=localhost/pulse-base ...
#
# debootstrap writes a minimal Debian bookworm root file system with python3 (3.11, the
# same minor version as python:3.11-slim), venv and pip; `podman import` turns it into an
# image. Needs root (debootstrap chroots), debootstrap and podman (or docker: ENGINE=docker).
set -euo pipefail

ENGINE=${ENGINE:-podman}
IMAGE=${IMAGE:-pulse-base}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
EXTRA_CA_DIR=${EXTRA_CA_DIR:-/usr/local/share/ca-certificates}
PACKAGES=python3,python3-venv,python3-pip,ca-certificates,tzdata

command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install -y debootstrap)" >&2; exit 2; }
command -v "$ENGINE" >/dev/null || { echo "$ENGINE is not installed" >&2; exit 2; }

ROOTFS=$(mktemp -d /tmp/pulse-base.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT

debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR"
# The certificate authorities this machine added (/usr/local/share/ca-certificates): where
# HTTPS goes through an inspecting proxy, pip in the image needs them as the host does.
# An image built so trusts what this machine trusts: keep it local, do not publish it.
if compgen -G "$EXTRA_CA_DIR/*.crt" >/dev/null; then
  cp "$EXTRA_CA_DIR"/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
  chroot "$ROOTFS" update-ca-certificates >/dev/null
fi
# What python:3.11-slim leaves out as well: package lists, caches, documentation.
chroot "$ROOTFS" apt-get clean
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* \
       "$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/tmp/*

tar -C "$ROOTFS" -c . | "$ENGINE" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$IMAGE"
echo "built image $IMAGE from Debian $SUITE"
