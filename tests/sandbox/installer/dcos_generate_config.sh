#!/bin/bash
# The sandbox's stand-in for DC/OS's installer, with its interface: run in
# the bootstrap node's working directory, it reads genconf/config.yaml and
# genconf/ip-detect and writes genconf/serve/dcos_install.sh. That script
# installs a node as `master`, `slave` or `slave_public`: it leaves what the
# default install.* commands look at (/opt/mesosphere/bin/dcos-shell and
# dcos-check-runner; on a master, Mesos' /slaves on port 5050, where agents
# register) and records each node in installed/nodes/<address>/ for the
# tests. Every node of the sandbox is this machine at its own loopback
# address, which the script reads from SSH_CONNECTION.
# With several masters, the last of master_list leads: the others answer
# Mesos' /slaves with a 307 to it, as a real non-leading master does.
# Extra config.yaml keys steer it: dcos_images_sandbox_fail_role (that
# role's installation fails), dcos_images_sandbox_install_seconds (each
# installation takes that long) and dcos_images_sandbox_release (the DC/OS
# release it stands for, 2.1.1 by default: before 1.12 the nodes have
# dcos-diagnostics for their post-start checks, from 1.12 on
# dcos-check-runner, as real DC/OS).
set -euo pipefail
config=genconf/config.yaml
fail() { echo "dcos_generate_config.sh: $*" >&2; exit 1; }
[ -f "$config" ] || fail "$config is missing"
[ -x genconf/ip-detect ] || fail "genconf/ip-detect is missing or not executable"
grep -q '^#!/bin/sh' genconf/ip-detect || fail "genconf/ip-detect is not a shell script"
value() { sed -n "s/^$1: *//p" "$config" | tr -d '"' | head -n 1; }
for key in cluster_name bootstrap_url; do
  [ -n "$(value "$key")" ] || fail "config.yaml has no $key"
done
[ "$(value master_discovery)" = static ] || fail "master_discovery must be static"
[ "$(value exhibitor_storage_backend)" = static ] || fail "exhibitor_storage_backend must be static"
masters=$(awk '/^master_list:/ {on=1; next} /^[^- ]/ {on=0} on && /^- / {gsub(/"/, ""); print $2}' "$config" | paste -sd ' ' -)
[ -n "$masters" ] || fail "config.yaml's master_list is empty"
fail_role=$(value dcos_images_sandbox_fail_role)
seconds=$(value dcos_images_sandbox_install_seconds)
release=$(value dcos_images_sandbox_release)
release=${release:-2.1.1}
case "$release" in
  1.[0-9].*|1.1[01].*) check_tool=dcos-diagnostics ;;
  *) check_tool=dcos-check-runner ;;
esac
leader=${masters##* }
state="$PWD/installed"
mkdir -p genconf/serve "$state/nodes" "$state/agents"
echo "$release" > "$state/release"
echo "$check_tool" > "$state/check_tool"
echo "generating the installer of DC/OS $release ($(value cluster_name)) for the masters $masters, $leader leading"

cat > "$state/mesos.py" <<'PY'
# Mesos' /slaves, as much of it as the wait for the cluster reads. A master
# that does not lead redirects as Mesos' master/http.cpp does: a 307 to
# //<leader>:<port>/master/slaves (a protocol-relative address).
import http.server, json, os, sys

ip, port, agents, leader = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

class Slaves(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path not in ("/slaves", "/master/slaves"):
            self.send_error(404)
            return
        if ip != leader:
            self.send_response(307)
            self.send_header("Location", f"//{leader}:{port}/master/slaves")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = json.dumps({"slaves": [{"hostname": a} for a in sorted(os.listdir(agents))]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.HTTPServer((ip, port), Slaves).serve_forever()
PY

cat > genconf/serve/dcos_install.sh <<EOF
#!/bin/bash
# dcos_install.sh of the sandbox's stand-in installer.
set -euo pipefail
role="\${1:-}"
case "\$role" in master|slave|slave_public) ;; *) echo "usage: dcos_install.sh master|slave|slave_public" >&2; exit 1 ;; esac
ip=\$(set -- \$SSH_CONNECTION; echo "\$3")
state='$state'
echo "installing DC/OS as \$role on \$ip"
sleep '${seconds:-0}'
if [ "\$role" = '$fail_role' ]; then echo "dcos_install.sh: the \$role installation fails (dcos_images_sandbox_fail_role)" >&2; exit 1; fi
if [ "\$role" != master ]; then
  for m in $masters; do
    [ -f "\$state/nodes/\$m/role" ] || { echo "dcos_install.sh: the master \$m is not installed" >&2; exit 1; }
  done
fi
mkdir -p "\$state/nodes/\$ip"
echo "\$role" > "\$state/nodes/\$ip/role"
date +%s.%N > "\$state/nodes/\$ip/installed_at"
# The parts of DC/OS the default checks use (the same on every sandbox node).
mkdir -p /opt/mesosphere/bin /opt/mesosphere/sandbox-nodes
printf '#!/bin/sh\nPATH=/opt/mesosphere/bin:\$PATH exec "\$@"\n' > /opt/mesosphere/bin/.dcos-shell.\$\$
mv -f /opt/mesosphere/bin/.dcos-shell.\$\$ /opt/mesosphere/bin/dcos-shell
# Both check tools are files (concurrent sandboxes share /opt/mesosphere);
# on a node whose release lacks one, it answers as a missing command would.
for tool in dcos-check-runner dcos-diagnostics; do
  printf '#!/bin/sh\nip=\$(set -- \$SSH_CONNECTION; echo "\$3")\nnode="/opt/mesosphere/sandbox-nodes/\$ip"\n[ "\$(cat "\$node/check_tool")" = %s ] || { echo "%s: command not found on DC/OS \$(cat "\$node/release")" >&2; exit 127; }\n[ "\$1 \$2" = "check node-poststart" ] || exit 2\ntest -f "\$node/nodes/\$ip/role"\n' "\$tool" "\$tool" > /opt/mesosphere/bin/.check.\$\$
  chmod 0755 /opt/mesosphere/bin/.check.\$\$
  mv -f /opt/mesosphere/bin/.check.\$\$ "/opt/mesosphere/bin/\$tool"
done
chmod 0755 /opt/mesosphere/bin/dcos-shell
ln -sfn "\$(command -v python3)" /opt/mesosphere/bin/python
ln -sfn "\$state" "/opt/mesosphere/sandbox-nodes/\$ip"
if [ "\$role" = master ]; then
  (cd "\$state" && exec nohup python3 "\$state/mesos.py" "\$ip" 5050 "\$state/agents" '$leader') >"\$state/mesos-\$ip.log" 2>&1 </dev/null &
else
  touch "\$state/agents/\$ip"
fi
echo "DC/OS \$role installed on \$ip"
EOF
chmod 0755 genconf/serve/dcos_install.sh
echo "wrote genconf/serve/dcos_install.sh"
