# A cluster module that terraform validate rejects: it takes the interface's
# inputs but uses a variable it never declares. Qualifying with it must fail
# before any packer build.
variable "aws_ami" { type = string }
variable "ssh_user" { type = string }
variable "cluster_name" { type = string }
variable "num_masters" { default = 1 }
variable "num_private_agents" { default = 2 }
variable "num_public_agents" { default = 1 }
variable "admin_ips" { type = list(string) }
variable "ssh_key_name" { default = "" }
variable "vpc_cidr" { default = "" }
variable "tags" {
  type    = map(string)
  default = {}
}
resource "aws_instance" "master" {
  ami           = var.aws_ami
  instance_type = var.instance_type_that_is_not_declared
}
output "masters_public_ips" { value = ["127.0.0.1"] }
output "masters_private_ips" { value = aws_instance.master[*].private_ip }
output "private_agents_private_ips" { value = [] }
output "public_agents_private_ips" { value = [] }
