# Variables of the cluster module (dcos-terraform/dcos/aws). The pipeline sets
# aws_ami (the image under test) and the ssh user; do not set them here.
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

tags = {
  owner      = "dcos-images"
  expiration = "3h"
}
