aws_region = "us-west-2"
dcos_version = "2.1.1"
num_masters = 1
num_private_agents = 2
num_public_agents = 1
