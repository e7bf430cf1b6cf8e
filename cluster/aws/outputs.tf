# What dcos-images reads back (`terraform output -json` of its root module).
# Lists are in node order: the first master is the one the tests log in to.

locals {
  by_role = { for role in keys(local.roles) : role => [for i in range(local.roles[role].count) : aws_instance.node["${role}-${i}"]] }
}

output "bootstrap_public_ip" {
  value = local.by_role["bootstrap"][0].public_ip
}

output "bootstrap_private_ip" {
  value = local.by_role["bootstrap"][0].private_ip
}

output "masters_public_ips" {
  value = local.by_role["master"][*].public_ip
}

output "masters_private_ips" {
  value = local.by_role["master"][*].private_ip
}

output "private_agents_public_ips" {
  value = local.by_role["private-agent"][*].public_ip
}

output "private_agents_private_ips" {
  value = local.by_role["private-agent"][*].private_ip
}

output "public_agents_public_ips" {
  value = local.by_role["public-agent"][*].public_ip
}

output "public_agents_private_ips" {
  value = local.by_role["public-agent"][*].private_ip
}

output "os_user" {
  description = "The user to log in as on every node."
  value       = var.ssh_user
}
