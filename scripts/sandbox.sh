# Sourced by scripts/qualify-local.sh and benches/bench-jobs.sh: brings up the
# local stand-ins of the real world in $work (moto's EC2 server, a loopback
# sshd for the "build instance" and the "master", a bare git remote, the
# terraform provider mirror) and copies the sandbox tree into $work/repo as
# a git repository. Everything started is stopped by the EXIT trap.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/install-tools.sh"
cargo build -q --manifest-path "$here/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$here/target}/debug/dcos-images"

work="$(mktemp -d)"
# sshd reads the authorized keys as the sandbox user: it must be able to enter.
chmod 755 "$work"
pids=()
# Also what the stand-in DC/OS left running: every process working in $work.
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for d in /proc/[0-9]*; do case "$(readlink "$d/cwd" 2>/dev/null)" in "$work"*) kill -9 "${d#/proc/}" 2>/dev/null || true ;; esac; done
  wait 2>/dev/null || true; rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "nothing listens on $1" >&2; return 1; }

moto_port=$(free_port)
# moto, with the EC2 it lacks (image deprecation, block public access).
python3 "$here/tests/sandbox/moto_server.py" -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 & pids+=($!)
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/user_key"
ssh_port=$(free_port)
http_port=$(free_port)
# The nodes' sudo passes through (the sandbox user stays itself); the
# bootstrap node works in $work/bootstrap.
mkdir -p "$work/bin" "$work/bootstrap"
printf '#!/bin/sh\nexec "$@"\n' >"$work/bin/sudo"
chmod 755 "$work/bin/sudo"
# Their docker: no engine runs here; the stand-in serves genconf/serve as
# the nginx container would.
cp "$here/tests/sandbox/docker" "$work/bin/docker"
chmod 777 "$work/bootstrap"
cat >"$work/sshd_config" <<CONF
Port $ssh_port
# Every address of this machine: the sandbox cluster's nodes are loopback
# addresses (127.0.1.x) of a moto VPC; logins only from loopback.
ListenAddress 0.0.0.0
HostKey $work/host_key
AuthorizedKeysFile $work/user_key.pub
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowUsers dcos-sandbox@127.0.0.0/8
PidFile $work/sshd.pid
SetEnv PATH=$work/bin:/usr/local/bin:/usr/bin:/bin
CONF
/usr/sbin/sshd -D -f "$work/sshd_config" -E "$work/sshd.log" & pids+=($!)
printf 'Host 127.*\n  Port %s\n  IdentityFile %s\n  IdentitiesOnly yes\n' "$ssh_port" "$work/user_key" >"$work/ssh_config"
cp -r "$here/tests/sandbox/suite" "$work/suite"
mirror="${DCOS_IMAGES_TF_MIRROR:-/opt/tf-plugins}"
printf 'provider_installation {\n  filesystem_mirror { path = "%s" }\n}\n' "$mirror" >"$work/terraform.rc"
wait_port "$moto_port"; wait_port "$ssh_port"

export AWS_ENDPOINT_URL_EC2="http://127.0.0.1:$moto_port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-west-2
export TF_CLI_CONFIG_FILE="$work/terraform.rc" TF_IN_AUTOMATION=1
python3 - "$work/user_key.pub" <<'PY'
import boto3, os, sys
ec2 = boto3.client("ec2", endpoint_url=os.environ["AWS_ENDPOINT_URL_EC2"], region_name="us-west-2")
ec2.import_key_pair(KeyName="dcos-images-sandbox", PublicKeyMaterial=open(sys.argv[1], "rb").read())
PY

repo="$work/repo"
cp -r "$here/tests/sandbox/tree" "$repo"
# The tests use 127.10-250.x.x for their clusters; this job takes 127.9.x.x and 127.8.x.x.
sha=$(sha256sum "$here/tests/sandbox/installer/dcos_generate_config.sh" | cut -d' ' -f1)
find "$repo" \( -name packer.json -o -name dcos-images.yaml -o -name '*.tfvars' \) -exec sed -i \
  -e "s#\"@SSH_PORT@\"#$ssh_port#" -e "s#@SSH_KEY@#$work/user_key#" -e "s#@HTTP_PORT@#$http_port#" \
  -e "s#@VPC_CIDR@#127.9.0.0/16#" -e "s#@INSTALLER_SHA256@#$sha#" \
  -e "s#@SANDBOX_SRC@#$here/tests/sandbox#" -e "s#@SANDBOX@#$work#" {} +
git init -q --bare -b main "$work/remote.git"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=you -c user.email=you@example.invalid commit -q -m "example tree"
git -C "$repo" remote add origin "$work/remote.git"
git -C "$repo" push -q origin main
