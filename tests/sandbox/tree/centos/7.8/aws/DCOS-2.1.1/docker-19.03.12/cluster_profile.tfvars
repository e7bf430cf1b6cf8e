aws_region = "us-west-2"
dcos_version = "2.1.1"
num_masters = 1
num_private_agents = 2
num_public_agents = 1

# The sandbox's network: a moto VPC of loopback addresses, so that every node
# answers on this machine (127.N.1.4, ...), reached from loopback only.
vpc_cidr     = "@VPC_CIDR@"
admin_ips    = ["127.0.0.0/8"]
ssh_key_name = "dcos-images-sandbox"

# The sandbox's stand-in DC/OS installer (tests/sandbox/installer).
custom_dcos_download_path   = "file://@SANDBOX_SRC@/installer/dcos_generate_config.sh"
custom_dcos_download_sha256 = "@INSTALLER_SHA256@"
