aws_region = "us-west-2"
dcos_version = "2.1.1"
num_masters = 1
num_private_agents = 2
num_public_agents = 1

# The sandbox's network: a moto VPC of loopback addresses, so that every node
# answers on this machine (127.0.1.4, ...), reached from loopback only.
vpc_cidr     = "127.0.0.0/16"
admin_ips    = ["127.0.0.0/8"]
ssh_key_name = "dcos-images-sandbox"
