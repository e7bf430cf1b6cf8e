# The cluster dcos-images qualifies an image on: a network, security groups,
# a key pair and the DC/OS nodes (one bootstrap node, the masters, the private
# and the public agents), every one booted from the image under test.
# DC/OS itself is installed by dcos-images over ssh, not here.
terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

locals {
  create_network = var.subnet_id == ""
  create_key     = var.ssh_key_name == ""
  # try(): file() fails on "" even in the branch a conditional does not take.
  public_key = var.ssh_public_key != "" ? var.ssh_public_key : try(file(pathexpand(var.ssh_public_key_file)), "")
  key_name   = local.create_key ? aws_key_pair.cluster[0].key_name : var.ssh_key_name
  # The profile's zone, else the first zone (by name) that needs no opt-in
  # and offers every instance type the cluster uses: the region's first zone
  # does not always (us-west-2a has no h1 instances, for one).
  zone           = length(var.availability_zones) > 0 ? var.availability_zones[0] : try(local.zones_offering_every_type[0], null)
  instance_types = distinct([for r in local.roles : r.type if r.count > 0])
  offered = local.create_network && length(var.availability_zones) == 0 ? [
    for i, t in data.aws_ec2_instance_type_offerings.zones[0].instance_types : "${data.aws_ec2_instance_type_offerings.zones[0].locations[i]}/${t}"
  ] : []
  zones_offering_every_type = local.create_network && length(var.availability_zones) == 0 ? [
    for z in sort(data.aws_availability_zones.available[0].names) : z if alltrue([for t in local.instance_types : contains(local.offered, "${z}/${t}")])
  ] : []
  subnet_id = local.create_network ? aws_subnet.cluster[0].id : var.subnet_id
  vpc_id    = local.create_network ? aws_vpc.cluster[0].id : data.aws_subnet.given[0].vpc_id
  # What the world (admin_ips) may reach, as dcos-terraform's security groups
  # (dcos-terraform/terraform-aws-security-groups) open it: ssh on every
  # node, the Admin Router (80, 443) on the masters, and the public agents'
  # load-balanced ports. Mesos (5050), Marathon (8080), Exhibitor (8181),
  # ZooKeeper (2181) and the bootstrap node's serve port have no
  # authentication in open-source DC/OS: only the cluster's own nodes reach
  # them (the internal group), as terraform-dcos kept them inside the VPC.
  master_ports       = [80, 443]
  public_agent_ports = distinct(concat([80, 443, 9090], var.public_agents_additional_ports))
  public_agents_ips  = length(var.public_agents_access_ips) > 0 ? var.public_agents_access_ips : var.admin_ips
  roles = {
    bootstrap     = { count = 1, type = var.bootstrap_instance_type, volume = var.bootstrap_root_volume_size }
    master        = { count = var.num_masters, type = var.masters_instance_type, volume = var.masters_root_volume_size }
    private-agent = { count = var.num_private_agents, type = var.private_agents_instance_type, volume = var.private_agents_root_volume_size }
    public-agent  = { count = var.num_public_agents, type = var.public_agents_instance_type, volume = var.public_agents_root_volume_size }
  }
  nodes = merge([
    for role, r in local.roles : { for i in range(r.count) : "${role}-${i}" => merge(r, { role = role, index = i }) }
  ]...)
}

# Zones an account can use without opting in (Local Zones and Wavelength
# Zones need an opt-in, and not every instance type is offered in them).
data "aws_availability_zones" "available" {
  count = local.create_network && length(var.availability_zones) == 0 ? 1 : 0
  state = "available"
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

# Which of those zones offer the cluster's instance types.
data "aws_ec2_instance_type_offerings" "zones" {
  count         = local.create_network && length(var.availability_zones) == 0 ? 1 : 0
  location_type = "availability-zone"
  filter {
    name   = "instance-type"
    values = local.instance_types
  }
  filter {
    name   = "location"
    values = data.aws_availability_zones.available[0].names
  }
}

data "aws_subnet" "given" {
  count = local.create_network ? 0 : 1
  id    = var.subnet_id
}

resource "aws_vpc" "cluster" {
  count                = local.create_network ? 1 : 0
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = var.cluster_name })
}

resource "aws_subnet" "cluster" {
  count                   = local.create_network ? 1 : 0
  vpc_id                  = aws_vpc.cluster[0].id
  cidr_block              = cidrsubnet(var.vpc_cidr, 8, 1)
  availability_zone       = local.zone
  map_public_ip_on_launch = true
  tags                    = merge(var.tags, { Name = var.cluster_name })
  lifecycle {
    precondition {
      condition     = local.zone != null
      error_message = "No availability zone of this region needs no opt-in and offers every instance type of the cluster (${join(", ", local.instance_types)}): choose instance types the region offers, or set availability_zones in the cluster profile."
    }
  }
}

resource "aws_internet_gateway" "cluster" {
  count  = local.create_network ? 1 : 0
  vpc_id = aws_vpc.cluster[0].id
  tags   = merge(var.tags, { Name = var.cluster_name })
}

resource "aws_route_table" "cluster" {
  count  = local.create_network ? 1 : 0
  vpc_id = aws_vpc.cluster[0].id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.cluster[0].id
  }
  tags = merge(var.tags, { Name = var.cluster_name })
}

resource "aws_route_table_association" "cluster" {
  count          = local.create_network ? 1 : 0
  subnet_id      = aws_subnet.cluster[0].id
  route_table_id = aws_route_table.cluster[0].id
}

# Everything inside the cluster talks to everything (the bootstrap node's
# serve port, Mesos, Marathon, ZooKeeper, Exhibitor): only its own nodes.
resource "aws_security_group" "internal" {
  name        = "${var.cluster_name}-internal"
  description = "DC/OS nodes of ${var.cluster_name}: all traffic between them"
  vpc_id      = local.vpc_id
  ingress {
    from_port = 0
    to_port   = 0
    protocol  = "-1"
    self      = true
  }
  egress {
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
  tags = merge(var.tags, { Name = "${var.cluster_name}-internal" })
}

resource "aws_security_group" "admin" {
  name        = "${var.cluster_name}-admin"
  description = "DC/OS nodes of ${var.cluster_name}: ssh from admin_ips"
  vpc_id      = local.vpc_id
  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = var.admin_ips
  }
  tags = merge(var.tags, { Name = "${var.cluster_name}-admin" })
}

# What each role opens beyond ssh: the masters' Admin Router, the public
# agents' load-balanced ports.
resource "aws_security_group" "role" {
  for_each = {
    masters       = { ports = local.master_ports, cidrs = var.admin_ips, what = "the Admin Router from admin_ips" }
    public-agents = { ports = local.public_agent_ports, cidrs = local.public_agents_ips, what = "their load-balanced ports" }
  }
  name        = "${var.cluster_name}-${each.key}"
  description = "DC/OS ${each.key} of ${var.cluster_name}: ${each.value.what}"
  vpc_id      = local.vpc_id
  dynamic "ingress" {
    for_each = each.value.ports
    content {
      from_port   = ingress.value
      to_port     = ingress.value
      protocol    = "tcp"
      cidr_blocks = each.value.cidrs
    }
  }
  tags = merge(var.tags, { Name = "${var.cluster_name}-${each.key}" })
}

resource "aws_key_pair" "cluster" {
  count      = local.create_key ? 1 : 0
  key_name   = var.cluster_name
  public_key = local.public_key
  tags       = var.tags
  lifecycle {
    precondition {
      condition     = local.public_key != ""
      error_message = "No key for the nodes: set ssh_key_name (an existing EC2 key pair), ssh_public_key or ssh_public_key_file (a readable file) in the cluster profile."
    }
  }
}

resource "aws_instance" "node" {
  for_each      = local.nodes
  ami           = var.aws_ami
  instance_type = each.value.type
  subnet_id     = local.subnet_id
  vpc_security_group_ids = concat(
    [aws_security_group.internal.id, aws_security_group.admin.id],
    each.value.role == "master" ? [aws_security_group.role["masters"].id] : [],
    each.value.role == "public-agent" ? [aws_security_group.role["public-agents"].id] : [],
  )
  key_name                    = local.key_name
  associate_public_ip_address = true
  root_block_device {
    volume_size = each.value.volume
    volume_type = "gp3"
    tags        = merge(var.tags, { Name = "${var.cluster_name}-${each.key}" })
  }
  tags = merge(var.tags, { Name = "${var.cluster_name}-${each.key}", "dcos-images:role" = each.value.role })
}
