//! dcos-images: qualify machine images for DC/OS and browse the compatibility tree.
//!
//! Data flows one way: the tree ([`tree`]) is read into typed files
//! ([`formats`]), checked ([`validate`]) and browsed ([`browse`]).

pub mod allocator;
pub mod base_images_refresh;
pub mod browse;
pub mod changed;
pub mod cli;
pub mod cloud;
pub mod commands;
pub mod config;
pub mod dcos;
pub mod diagnostic;
pub mod error;
pub mod formats;
pub mod fsutil;
pub mod gc;
pub mod github;
pub mod journal;
pub mod json_text;
pub mod migrate;
pub mod pipeline;
pub mod report;
pub mod schema;
pub mod site;
pub mod tools;
pub mod tree;
pub mod validate;
