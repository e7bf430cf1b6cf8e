//! Errors and the one map from an outcome to the process exit code.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | success (qualified; tree valid; image found) |
//! | 1 | a negative answer: validation found errors, `find` found nothing, tests failed |
//! | 2 | usage or configuration error |
//! | 3 | a tool failed (packer, terraform, ssh, git) |
//! | 4 | teardown failed |
//! | 130 | interrupted |

use crate::config::ConfigError;
use crate::tree::TreeError;
use std::path::PathBuf;

pub mod exit {
    pub const SUCCESS: u8 = 0;
    pub const NEGATIVE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const TOOL_FAILED: u8 = 3;
    pub const TEARDOWN_FAILED: u8 = 4;
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}\n  = help: {hint}")]
    Usage { message: String, hint: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tree(#[from] TreeError),
    #[error("the build directory is not valid; nothing was run\n{report}")]
    Invalid { report: String },
    #[error(transparent)]
    Tool(#[from] crate::tools::ToolError),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

impl Error {
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Usage { message: message.into(), hint: hint.into() }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage { .. } | Error::Config(_) | Error::Tree(_) | Error::Invalid { .. } => exit::USAGE,
            // A missing tool is a setup problem found before anything ran.
            Error::Tool(crate::tools::ToolError::Missing { .. }) => exit::USAGE,
            Error::Tool(_) => exit::TOOL_FAILED,
            Error::Write { .. } => exit::TOOL_FAILED,
        }
    }
}
