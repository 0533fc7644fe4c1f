//! One module per subcommand: its arguments and how it runs.
