//! The cloud, asked directly: what packer and terraform say they did is
//! checked against EC2 itself.

pub mod ec2;
pub mod sweep;
