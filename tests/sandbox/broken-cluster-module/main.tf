# A cluster module that terraform validate rejects: it uses a variable it
# never declares. Qualifying with it must fail before any packer build.
variable "aws_ami" { type = string }
variable "dcos_version" { default = "" }
variable "num_masters" { default = 1 }
variable "num_private_agents" { default = 2 }
variable "num_public_agents" { default = 1 }
variable "tags" {
  type    = map(string)
  default = {}
}
resource "aws_instance" "master" {
  ami           = var.aws_ami
  instance_type = var.instance_type_that_is_not_declared
}
output "infrastructure_masters_public_ips" { value = ["127.0.0.1"] }
output "infrastructure_masters_private_ips" { value = aws_instance.master[*].private_ip }
output "infrastructure_private_agents_private_ips" { value = [] }
output "infrastructure_public_agents_private_ips" { value = [] }
