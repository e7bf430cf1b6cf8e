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
  zone       = length(var.availability_zones) > 0 ? var.availability_zones[0] : data.aws_availability_zones.available[0].names[0]
  subnet_id  = local.create_network ? aws_subnet.cluster[0].id : var.subnet_id
  vpc_id     = local.create_network ? aws_vpc.cluster[0].id : data.aws_subnet.given[0].vpc_id
  # DC/OS's admin router (http, https), Mesos, Marathon, Exhibitor and ssh.
  admin_ports = [22, 80, 443, 5050, 8080, 8181]
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

data "aws_availability_zones" "available" {
  count = length(var.availability_zones) > 0 ? 0 : 1
  state = "available"
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

# Everything inside the cluster talks to everything; the world gets nothing
# but what admin_ips allows.
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
  description = "DC/OS nodes of ${var.cluster_name}: ssh, http(s) and the admin ports from admin_ips"
  vpc_id      = local.vpc_id
  dynamic "ingress" {
    for_each = local.admin_ports
    content {
      from_port   = ingress.value
      to_port     = ingress.value
      protocol    = "tcp"
      cidr_blocks = var.admin_ips
    }
  }
  tags = merge(var.tags, { Name = "${var.cluster_name}-admin" })
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
  for_each                    = local.nodes
  ami                         = var.aws_ami
  instance_type               = each.value.type
  subnet_id                   = local.subnet_id
  vpc_security_group_ids      = [aws_security_group.internal.id, aws_security_group.admin.id]
  key_name                    = local.key_name
  associate_public_ip_address = true
  root_block_device {
    volume_size = each.value.volume
    volume_type = "gp3"
    tags        = merge(var.tags, { Name = "${var.cluster_name}-${each.key}" })
  }
  tags = merge(var.tags, { Name = "${var.cluster_name}-${each.key}", "dcos-images:role" = each.value.role })
}
