#!/bin/sh
# Sandbox provisioner: runs through the loopback sshd as the unprivileged
# dcos-sandbox user. It only leaves a marker in that user's home.
set -eu
echo "sandbox: installing DC/OS prerequisites as $(id -un)"
mkdir -p "$HOME/dcos-images-sandbox"
date -u > "$HOME/dcos-images-sandbox/last-provisioned"
