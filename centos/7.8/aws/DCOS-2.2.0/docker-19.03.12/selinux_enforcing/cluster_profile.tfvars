# The cluster this directory is qualified on (README.md, "Cluster profiles").
# The pipeline sets aws_ami (the image under test), ssh_user and cluster_name.
aws_region = "us-west-2"
dcos_version = "2.2.0"
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
