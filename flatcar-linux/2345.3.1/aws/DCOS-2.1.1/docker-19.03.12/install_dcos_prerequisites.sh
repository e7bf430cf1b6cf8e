#!/usr/bin/env bash
# DC/OS prerequisites for Flatcar Container Linux 2345.3.1 (stable), Docker 19.03.12.
# Flatcar ships Docker and has no package manager: this checks the shipped
# version and configures the host. Runs on the packer build instance as root.
set -euxo pipefail

DOCKER_VERSION="19.03.12"

# Time sync with systemd-timesyncd: DC/OS refuses to start with an unsynchronised clock.
systemctl enable --now systemd-timesyncd

# Kernel modules for the DC/OS overlay network, now and at boot.
cat > /etc/modules-load.d/dcos.conf <<MODULES
overlay
br_netfilter
ip_vs
ip_vs_rr
ip_vs_wrr
ip_vs_sh
dummy
MODULES
for m in overlay br_netfilter ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh dummy; do modprobe "$m"; done
cat > /etc/sysctl.d/90-dcos.conf <<SYSCTL
net.bridge.bridge-nf-call-iptables = 1
net.ipv4.ip_forward = 1
SYSCTL
sysctl --system

# Groups DC/OS components run as (Flatcar's /etc/group is writable).
getent group nogroup >/dev/null || groupadd nogroup

# The shipped Docker must be the version this directory qualifies.
systemctl enable --now docker
installed=$(docker version --format '{{.Server.Version}}')
[ "$installed" = "$DOCKER_VERSION" ] || { echo "docker $installed shipped, $DOCKER_VERSION wanted: wrong Flatcar release" >&2; exit 1; }

# Flatcar updates itself and reboots by default; a DC/OS node must not.
systemctl mask --now update-engine.service locksmithd.service

rm -f /etc/ssh/ssh_host_* /root/.bash_history
