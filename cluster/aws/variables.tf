# The interface of a dcos-images cluster module. dcos-images passes these
# inputs (from the build directory's cluster profile, mapped by the table in
# README.md, plus what the run decides) and reads the outputs in outputs.tf.
# Any module named by `cluster.module` must accept and give the same.

variable "aws_ami" {
  description = "The image under test: every node boots from it. Set by dcos-images."
  type        = string
}

variable "ssh_user" {
  description = "The OS user of the image (packer.json's ssh_username). Set by dcos-images."
  type        = string
}

variable "cluster_name" {
  description = "Names the cluster's resources (and the key pair it creates). Set by dcos-images: the run id."
  type        = string
}

variable "tags" {
  description = "Tags for every resource: the profile's tags, owner and expiration, and the run's dcos-images:* tags."
  type        = map(string)
  default     = {}
}

variable "num_masters" {
  description = "DC/OS masters: 1, 3 or 5."
  type        = number
  default     = 1
  validation {
    condition     = contains([1, 3, 5], var.num_masters)
    error_message = "num_masters must be 1, 3 or 5 (DC/OS needs an odd quorum)."
  }
}

variable "num_private_agents" {
  description = "DC/OS private agents."
  type        = number
  default     = 2
  validation {
    condition     = var.num_private_agents >= 0 && floor(var.num_private_agents) == var.num_private_agents
    error_message = "num_private_agents must be a whole number >= 0."
  }
}

variable "num_public_agents" {
  description = "DC/OS public agents."
  type        = number
  default     = 1
  validation {
    condition     = var.num_public_agents >= 0 && floor(var.num_public_agents) == var.num_public_agents
    error_message = "num_public_agents must be a whole number >= 0."
  }
}

variable "bootstrap_instance_type" {
  type    = string
  default = "m5.large"
}

variable "masters_instance_type" {
  type    = string
  default = "m5.xlarge"
}

variable "private_agents_instance_type" {
  type    = string
  default = "m5.xlarge"
}

variable "public_agents_instance_type" {
  type    = string
  default = "m5.xlarge"
}

variable "bootstrap_root_volume_size" {
  description = "GiB."
  type        = number
  default     = 80
}

variable "masters_root_volume_size" {
  description = "GiB."
  type        = number
  default     = 120
}

variable "private_agents_root_volume_size" {
  description = "GiB."
  type        = number
  default     = 120
}

variable "public_agents_root_volume_size" {
  description = "GiB."
  type        = number
  default     = 120
}

variable "admin_ips" {
  description = "CIDR blocks that may reach ssh on every node and the Admin Router (80, 443) on the masters (the machine running dcos-images must be in one). Mesos, Marathon, ZooKeeper and Exhibitor are never opened to them."
  type        = list(string)
  validation {
    condition     = length(var.admin_ips) > 0 && alltrue([for c in var.admin_ips : can(cidrhost(c, 0))])
    error_message = "admin_ips must list at least one CIDR block, such as \"203.0.113.7/32\"."
  }
}

variable "ssh_key_name" {
  description = "An existing EC2 key pair for the nodes. Empty: a key pair is created from ssh_public_key or ssh_public_key_file."
  type        = string
  default     = ""
}

variable "ssh_public_key" {
  description = "An OpenSSH public key, for the key pair the module creates."
  type        = string
  default     = ""
}

variable "ssh_public_key_file" {
  description = "A file holding an OpenSSH public key (~ is expanded), for the key pair the module creates."
  type        = string
  default     = ""
}

variable "public_agents_access_ips" {
  description = "CIDR blocks that may reach the public agents' ports (80, 443, 9090 and public_agents_additional_ports). Empty: admin_ips."
  type        = list(string)
  default     = []
}

variable "public_agents_additional_ports" {
  description = "More TCP ports open on the public agents (an app's, behind Marathon-LB), as dcos-terraform's input of the same name."
  type        = list(number)
  default     = []
}

variable "availability_zones" {
  description = "The first one holds the cluster's subnet. Empty: the first zone (by name) that needs no opt-in and offers every instance type of the cluster."
  type        = list(string)
  default     = []
}

variable "subnet_id" {
  description = "An existing subnet (with a route to the internet) for every node. Empty: a VPC, subnet, internet gateway and route are created."
  type        = string
  default     = ""
}

variable "vpc_cidr" {
  description = "The created VPC's CIDR block (/16 or wider); the nodes' subnet is its second /24 (10.42.1.0/24 by default)."
  type        = string
  default     = "10.42.0.0/16"
  validation {
    condition     = can(cidrsubnet(var.vpc_cidr, 8, 1)) && try(tonumber(split("/", var.vpc_cidr)[1]) <= 16, false)
    error_message = "vpc_cidr must be a CIDR block of /16 or wider, such as \"10.42.0.0/16\"."
  }
}
