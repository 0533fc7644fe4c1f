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

use std::path::Path;

/// `--flavor NAME` / `--all-flavors`, shared by the commands that work on one profile.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FlavorArgs {
    /// The flavor (`config/flavors/NAME.conf`) [default: the profile's DEFAULT_FLAVOR].
    #[arg(long, value_name = "NAME", conflicts_with = "all_flavors")]
    pub flavor: Option<String>,
    /// Every flavor of the profile, one after the other.
    #[arg(long)]
    pub all_flavors: bool,
}

impl FlavorArgs {
    /// The flavors to work on, each checked: `[None]` for a profile without flavors (or the
    /// default one when neither option is given; `None` then stands for DEFAULT_FLAVOR).
    pub fn selected(&self, config: &Path) -> anyhow::Result<Vec<Option<String>>> {
        if self.all_flavors {
            return Ok(isoforge_inputs::flavors::all(config)?
                .into_iter()
                .map(|f| f.map(|f| f.name))
                .collect());
        }
        let f = isoforge_inputs::flavors::select(config, self.flavor.as_deref())?;
        Ok(vec![f.map(|f| f.name)])
    }
}
