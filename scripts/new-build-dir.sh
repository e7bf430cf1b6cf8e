#!/usr/bin/env bash
# Writes one build directory of the project's tree:
#   scripts/new-build-dir.sh OS OS_VERSION DCOS DOCKER VARIANT|- SSH_USER
# Existing files are left alone: this only starts a directory, people edit it.
set -euo pipefail
os=$1 osv=$2 dcos=$3 docker=$4 variant=$5 user=$6
dir="$os/$osv/aws/DCOS-$dcos/docker-$docker"
[ "$variant" != "-" ] && dir="$dir/$variant"
mkdir -p "$dir"
depth=$(awk -F/ '{print NF}' <<<"$dir")
up=$(printf '../%.0s' $(seq 1 "$depth"))
base=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["us-west-2"])' "$os/$osv/aws/base_images.json")

[ -f "$dir/packer.json" ] || cat > "$dir/packer.json" <<EOF
{
  "variables": {
    "aws_access_key": "{{env \`AWS_ACCESS_KEY_ID\`}}",
    "aws_secret_key": "{{env \`AWS_SECRET_ACCESS_KEY\`}}"
  },
  "builders": [
    {
      "type": "amazon-ebs",
      "access_key": "{{user \`aws_access_key\`}}",
      "secret_key": "{{user \`aws_secret_key\`}}",
      "region": "us-west-2",
      "source_ami": "$base",
      "instance_type": "m5.xlarge",
      "ssh_username": "$user",
      "ami_name": "dcos-{{uuid}}",
      "ami_description": "$dir",
      "ami_regions": [
        "us-west-2",
        "us-east-1"
      ],
      "ami_groups": "all",
      "ena_support": true,
      "sriov_support": true,
      "launch_block_device_mappings": [
        {
          "device_name": "/dev/sda1",
          "volume_type": "gp2",
          "volume_size": 60,
          "delete_on_termination": true
        }
      ]
    }
  ],
  "provisioners": [
    {
      "type": "shell",
      "script": "install_dcos_prerequisites.sh",
      "execute_command": "chmod +x {{ .Path }}; sudo env {{ .Vars }} {{ .Path }}"
    }
  ],
  "post-processors": [
    [
      {
        "type": "manifest",
        "output": "packer_build_history.json",
        "strip_path": true
      }
    ]
  ]
}
EOF

[ -f "$dir/cluster_profile.tfvars" ] || cat > "$dir/cluster_profile.tfvars" <<EOF
# The cluster this directory is qualified on (README.md, "Cluster profiles").
# The pipeline sets aws_ami (the image under test), ssh_user and cluster_name.
aws_region = "us-west-2"
dcos_version = "$dcos"
dcos_variant = "open"

num_masters        = 1
num_private_agents = 2
num_public_agents  = 1

bootstrap_instance_type      = "m5.large"
masters_instance_type        = "m5.xlarge"
private_agents_instance_type = "m5.xlarge"
public_agents_instance_type  = "m5.xlarge"

admin_ips = ["0.0.0.0/0"]
# An EC2 key pair whose private key the ssh-agent running dcos-images holds.
ssh_key_name = "dcos-images"

tags = {
  owner      = "dcos-images"
  expiration = "3h"
}
EOF

[ -f "$dir/publish_and_test_config.yaml" ] || cat > "$dir/publish_and_test_config.yaml" <<EOF
# yaml-language-server: \$schema=${up}schemas/publish_and_test_config.schema.json
# publish_dcos_images_after: packer_build | dcos_installation | integration_tests | never
publish_dcos_images_after: integration_tests
run_integration_tests: true
run_framework_tests: false
EOF
echo "$dir"
