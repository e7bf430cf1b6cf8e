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
# Two extra config.yaml keys steer it: dcos_images_sandbox_fail_role (that
# role's installation fails) and dcos_images_sandbox_install_seconds (each
# installation takes that long).
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
state="$PWD/installed"
mkdir -p genconf/serve "$state/nodes" "$state/agents"
echo "generating the installer of $(value cluster_name) for the masters $masters"

cat > "$state/mesos.py" <<'PY'
# Mesos' /slaves, as much of it as the wait for the cluster reads.
import http.server, json, os, sys

ip, port, agents = sys.argv[1], int(sys.argv[2]), sys.argv[3]

class Slaves(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/slaves":
            self.send_error(404)
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
printf '#!/bin/sh\n[ "\$1 \$2" = "check node-poststart" ] || exit 2\nip=\$(set -- \$SSH_CONNECTION; echo "\$3")\ntest -f "/opt/mesosphere/sandbox-nodes/\$ip/nodes/\$ip/role"\n' > /opt/mesosphere/bin/.check.\$\$
mv -f /opt/mesosphere/bin/.check.\$\$ /opt/mesosphere/bin/dcos-check-runner
chmod 0755 /opt/mesosphere/bin/dcos-shell /opt/mesosphere/bin/dcos-check-runner
ln -sfn "\$(command -v python3)" /opt/mesosphere/bin/python
ln -sfn "\$state" "/opt/mesosphere/sandbox-nodes/\$ip"
if [ "\$role" = master ]; then
  (cd "\$state" && exec nohup python3 "\$state/mesos.py" "\$ip" 5050 "\$state/agents") >"\$state/mesos-\$ip.log" 2>&1 </dev/null &
else
  touch "\$state/agents/\$ip"
fi
echo "DC/OS \$role installed on \$ip"
EOF
chmod 0755 genconf/serve/dcos_install.sh
echo "wrote genconf/serve/dcos_install.sh"
