//! `smstrigger plugin new` and `smstrigger plugin build`: a plugin crate
//! from a template, and its component.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The plugin's name: lower-case letters, digits and `-`.
    name: String,
    /// Where to create the crate [default: ./NAME].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The smstrigger-sdk crate to depend on [default: the SDK this binary was built from].
    #[arg(long)]
    sdk: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The plugin crate [default: .].
    #[arg(default_value = ".")]
    dir: PathBuf,
}

pub fn new(args: NewArgs) -> anyhow::Result<ExitCode> {
    let name = args.name;
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!("plugin name `{name}`: use lower-case letters, digits and -, starting with a letter");
    }
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&name));
    if dir.exists() {
        bail!("{} already exists; choose another --dir", dir.display());
    }
    let sdk = match args.sdk {
        Some(sdk) => sdk,
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk"),
    };
    let sdk = sdk.canonicalize().with_context(|| {
        format!(
            "the SDK is not at {}: pass --sdk PATH/TO/plugin-sdk",
            sdk.display()
        )
    })?;
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::write(dir.join("Cargo.toml"), manifest(&name, &sdk))?;
    std::fs::write(dir.join("src/lib.rs"), RULE)?;
    std::fs::write(dir.join(".gitignore"), "/target\n")?;
    println!("created plugin `{name}` in {}", dir.display());
    println!();
    println!("  cd {}", dir.display());
    println!("  cargo test                          # the rule's unit tests, natively");
    println!("  smstrigger plugin build             # the component for wasm32-wasip2");
    Ok(ExitCode::SUCCESS)
}

pub fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let manifest = args.dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("{} is not a plugin crate", args.dir.display()))?;
    let name = text
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once('=')?;
            (key.trim() == "name").then(|| value.trim().trim_matches('"').to_string())
        })
        .context("the manifest has no package name")?;
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(&manifest)
        .status()
        .context("running cargo")?;
    if !status.success() {
        eprintln!("the build failed; is the target installed? rustup target add wasm32-wasip2");
        return Ok(ExitCode::FAILURE);
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| args.dir.join("target"));
    let component = target_dir
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    println!("built {}", component.display());
    Ok(ExitCode::SUCCESS)
}

fn manifest(name: &str, sdk: &Path) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
smstrigger-sdk = {{ path = {sdk:?} }}

# Small, fast components.
[profile.release]
opt-level = "s"
lto = true
strip = true
codegen-units = 1
panic = "abort"

# A plugin is its own workspace, wherever it lives.
[workspace]
"#,
        sdk = sdk.display().to_string()
    )
}

/// The template rule: a keyword → a Shared Callback after a delay, with its
/// tests; small enough to read at once, complete enough to upload.
const RULE: &str = r#"//! A trigger plugin: an inbound `LATER` (any case, trailing punctuation
//! ignored) → a Shared Callback `delay_hours` (default 24) after the
//! message, on every record matching the sender.

use smstrigger_sdk::text::is_keyword;
use smstrigger_sdk::{Action, Level, Event, Trigger, config_or, log};

pub struct Rule;

impl Trigger for Rule {
    fn on_event(event: Event) -> Result<Vec<Action>, String> {
        let Event::Inbound(sms) = event else {
            return Ok(Vec::new());
        };
        let keyword: String = config_or("keyword", "LATER".to_string())?;
        if !is_keyword(&sms.message, &keyword) {
            return Ok(Vec::new());
        }
        let hours: i64 = config_or("delay_hours", 24)?;
        let at = sms.timestamp + hours * 3600;
        log(Level::Info, &format!("{keyword}: calling back in {hours} h"));
        Ok(sms
            .matches
            .iter()
            .map(|record| Action::shared_callback(record.id, at).with_note("asked to be called later"))
            .collect())
    }
}

smstrigger_sdk::export_trigger!(Rule);

#[cfg(test)]
mod tests {
    use super::*;
    use smstrigger_sdk::testing::{self, TestHost};

    #[test]
    fn later_calls_back_a_day_after_the_message() {
        let customer = testing::record(1, "+36301234567");
        let at = testing::local("2026-12-01 10:00");
        let run = TestHost::new().run::<Rule>(testing::inbound(&customer, "Later!", at));
        assert_eq!(run.actions().len(), 1);
        assert_eq!(run.actions()[0].next_calldate(), Some(at + 24 * 3600));
    }

    #[test]
    fn other_messages_do_nothing() {
        let customer = testing::record(1, "+36301234567");
        let run = TestHost::new().run::<Rule>(testing::inbound(&customer, "later today?", 0));
        assert_eq!(run.actions(), &[]);
    }

    #[test]
    fn the_delay_comes_from_config() {
        let customer = testing::record(1, "+36301234567");
        let run = TestHost::new()
            .config("delay_hours", "2")
            .run::<Rule>(testing::inbound(&customer, "LATER", 0));
        assert_eq!(run.actions()[0].next_calldate(), Some(2 * 3600));
    }
}
"#;
