//! One module per subcommand: its arguments and how it runs.

pub mod build;
pub mod rebuild;
pub mod verify;
