#!/usr/bin/env bash
# The main job on this machine, with no cloud: installs what is missing,
# brings up the local stand-ins (moto's EC2 server, a loopback sshd, a bare
# git remote; scripts/sandbox.sh) and qualifies the example build directory of
# tests/sandbox with the real packer, terraform, ssh and git: image built,
# cluster created, tests run on its "master", published, cluster destroyed.
#   scripts/qualify-local.sh [extra qualify flags, e.g. --dry-run, --keep-cluster]
source "$(dirname "$0")/sandbox.sh"

dir=centos/7.8/aws/DCOS-2.1.1/docker-19.03.12
status=0
(cd "$repo" && "$bin" qualify --run-dir "$work/runs" "$@" "$dir") || status=$?
echo
echo "== the remote's newest commit"
git -C "$work/remote.git" log -1 --stat --format='%an: %s' main
echo "== $dir/dcos_images.yaml"
cat "$repo/$dir/dcos_images.yaml"
echo "== runs"
"$bin" runs --run-dir "$work/runs"
exit "$status"
