#!/usr/bin/env bash
# DC/OS prerequisites for CentOS 7.8, Docker 19.03.12, SELinux enforcing.
# Runs on the packer build instance as root. Each build directory carries its
# own copy so the image it builds depends on nothing outside the directory.
set -euxo pipefail

DOCKER_VERSION="19.03.12"
SELINUX_MODE="enforcing"
PKG="yum"

# CentOS 7 ended on 2024-06-30 and its mirror network went with it: the
# image's CentOS-*.repo files still ask mirrorlist.centos.org, and yum fails
# there. Its packages stay at vault.centos.org: pin yum to 7.8's release.
sed -i -e 's/^mirrorlist=/#mirrorlist=/' \
  -e 's|^#\?baseurl=http://[^/]*/centos/\$releasever/|baseurl=https://vault.centos.org/7.8.2003/|' \
  /etc/yum.repos.d/CentOS-*.repo

# Time sync: DC/OS refuses to start on a node whose clock is not synchronised.
$PKG install -y chrony
systemctl enable --now chronyd

# Tools the DC/OS installer and its services call.
$PKG install -y tar xz unzip curl ipset bind-utils yum-utils

# SELinux as the variant says. DC/OS 2.x supports enforcing with container-selinux.
$PKG install -y container-selinux || true
sed -i "s/^SELINUX=.*/SELINUX=${SELINUX_MODE}/" /etc/selinux/config
if [ "$SELINUX_MODE" = enforcing ]; then setenforce 1; else setenforce 0 || true; fi

# Kernel modules for overlay storage and the DC/OS overlay network, now and at boot.
cat > /etc/modules-load.d/dcos.conf <<MODULES
overlay
br_netfilter
ip_vs
ip_vs_rr
ip_vs_wrr
ip_vs_sh
nf_conntrack
dummy
MODULES
for m in overlay br_netfilter ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh dummy; do modprobe "$m"; done
cat > /etc/sysctl.d/90-dcos.conf <<SYSCTL
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward = 1
fs.inotify.max_user_watches = 1048576
SYSCTL
sysctl --system

# Groups DC/OS components run as.
getent group nogroup >/dev/null || groupadd nogroup
getent group docker >/dev/null || groupadd docker

# Docker, pinned to the version this directory qualifies.
yum-config-manager --add-repo https://download.docker.com/linux/centos/docker-ce.repo
$PKG install -y "docker-ce-${DOCKER_VERSION}" "docker-ce-cli-${DOCKER_VERSION}" containerd.io
mkdir -p /etc/docker
cat > /etc/docker/daemon.json <<DAEMON
{ "storage-driver": "overlay2", "log-driver": "json-file", "log-opts": { "max-size": "100m" } }
DAEMON
systemctl enable --now docker
installed=$(docker version --format '{{.Server.Version}}')
[ "$installed" = "$DOCKER_VERSION" ] || { echo "docker $installed installed, $DOCKER_VERSION wanted" >&2; exit 1; }

# DC/OS manages the firewall itself; firewalld in front of it breaks the overlay.
systemctl disable --now firewalld 2>/dev/null || true

# Leave no host keys or history in the image.
rm -f /etc/ssh/ssh_host_* /root/.bash_history
$PKG clean all
