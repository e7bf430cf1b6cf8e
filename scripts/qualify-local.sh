#!/usr/bin/env bash
# The main job on this machine, with no cloud: installs what is missing,
# brings up the local stand-ins (moto's EC2 server, a loopback sshd, a bare
# git remote) and qualifies the example build directory of tests/sandbox with
# the real packer and git. Everything it starts is stopped on exit.
#   scripts/qualify-local.sh [extra qualify flags, e.g. --dry-run]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/scripts/install-tools.sh"
cargo build -q --manifest-path "$here/Cargo.toml"
bin="$here/target/debug/dcos-images"

work="$(mktemp -d)"
# sshd reads the authorized keys as the sandbox user: it must be able to enter.
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "nothing listens on $1" >&2; return 1; }

moto_port=$(free_port)
moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 & pids+=($!)
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/user_key"
ssh_port=$(free_port)
cat >"$work/sshd_config" <<CONF
Port $ssh_port
ListenAddress 127.0.0.1
HostKey $work/host_key
AuthorizedKeysFile $work/user_key.pub
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowUsers dcos-sandbox
PidFile $work/sshd.pid
CONF
/usr/sbin/sshd -D -f "$work/sshd_config" -E "$work/sshd.log" & pids+=($!)
wait_port "$moto_port"; wait_port "$ssh_port"

export AWS_ENDPOINT_URL_EC2="http://127.0.0.1:$moto_port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-west-2
python3 - "$work/user_key.pub" <<'PY'
import boto3, os, sys
ec2 = boto3.client("ec2", endpoint_url=os.environ["AWS_ENDPOINT_URL_EC2"], region_name="us-west-2")
ec2.import_key_pair(KeyName="dcos-images-sandbox", PublicKeyMaterial=open(sys.argv[1], "rb").read())
PY

repo="$work/repo"
cp -r "$here/tests/sandbox/tree" "$repo"
find "$repo" -name packer.json -exec sed -i "s#\"@SSH_PORT@\"#$ssh_port#; s#@SSH_KEY@#$work/user_key#" {} +
git init -q --bare -b main "$work/remote.git"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=you -c user.email=you@example.invalid commit -q -m "example tree"
git -C "$repo" remote add origin "$work/remote.git"
git -C "$repo" push -q origin main

dir=centos/7.8/aws/DCOS-2.1.1/docker-19.03.12
status=0
(cd "$repo" && "$bin" qualify --run-dir "$work/runs" "$@" "$dir") || status=$?
echo
echo "== the remote's newest commit"
git -C "$work/remote.git" log -1 --stat --format='%an: %s' main
echo "== $dir/dcos_images.yaml"
cat "$repo/$dir/dcos_images.yaml"
exit "$status"
