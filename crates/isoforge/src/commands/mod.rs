//! One module per subcommand: its arguments and how it runs.

pub mod boot;
pub mod build;
pub mod builder;
pub mod check;
pub mod diff;
pub mod fetch;
pub mod lint_ci;
pub mod lock;
pub mod net;
pub mod normalize;
pub mod pins;
pub mod publish;
pub mod rebuild;
pub mod verify;
