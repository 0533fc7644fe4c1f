//! One module per subcommand: its arguments and how it runs.

pub mod boot;
pub mod build;
pub mod check;
pub mod rebuild;
pub mod verify;
