# A sandbox stand-in for the DC/OS Universal Installer (dcos-terraform/dcos/aws):
# the same input and output names, plain aws_instance resources (moto runs
# them), and the masters' public address pointing at the loopback sshd, whose
# "master" holds tests/sandbox/suite.
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

variable "aws_ami" { type = string }
variable "dcos_version" { default = "" }
variable "custom_dcos_download_path" { default = "" }
variable "num_masters" { default = 1 }
variable "num_private_agents" { default = 2 }
variable "num_public_agents" { default = 1 }
variable "tags" {
  type    = map(string)
  default = {}
}

resource "aws_instance" "master" {
  count         = var.num_masters
  ami           = var.aws_ami
  instance_type = "t2.micro"
  tags          = merge(var.tags, { role = "master" })
}

resource "aws_instance" "private_agent" {
  count         = var.num_private_agents
  ami           = var.aws_ami
  instance_type = "t2.micro"
  tags          = merge(var.tags, { role = "private-agent" })
}

resource "aws_instance" "public_agent" {
  count         = var.num_public_agents
  ami           = var.aws_ami
  instance_type = "t2.micro"
  tags          = merge(var.tags, { role = "public-agent" })
}

output "infrastructure_masters_public_ips" { value = [for m in aws_instance.master : "127.0.0.1"] }
output "infrastructure_masters_private_ips" { value = aws_instance.master[*].private_ip }
output "infrastructure_private_agents_private_ips" { value = aws_instance.private_agent[*].private_ip }
output "infrastructure_public_agents_private_ips" { value = aws_instance.public_agent[*].private_ip }
