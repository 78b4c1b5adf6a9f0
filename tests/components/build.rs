//! Compiles every example plugin under `plugins/` and the hostile test
//! plugin to wasm32-wasip2 components, and writes their paths as consts to
//! `$OUT_DIR/components.rs`, which `src/lib.rs` includes.
//!
//! The way wasmtime's `crates/test-programs/artifacts` and Spin's
//! `tests/test-components` do it: one nested `cargo build` (one invocation,
//! one `-p` per plugin) with
//! - its own target directory, `<workspace>/target/plugins`, because the
//!   outer cargo holds the lock on its own target directory while this
//!   script runs, so sharing it would deadlock;
//! - an environment scrubbed of what the outer build leaks into build
//!   scripts ([`LEAKY_ENV`], [`LEAKY_ENV_PREFIXES`]): flags, wrappers and
//!   jobserver handles meant for the outer, native build.
//!
//! Plugins are found by listing `plugins/*`, so a new example plugin is
//! built without touching this file. A plugin that does not compile fails
//! this build with the nested cargo's errors and the command that failed.

use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The target the host loads plugins for.
const TARGET: &str = "wasm32-wasip2";

/// The cargo profile plugins are built with (root `Cargo.toml`).
const PROFILE: &str = "plugin";

/// Where the example plugins live, one crate per directory, relative to the
/// workspace root.
const PLUGINS_DIR: &str = "plugins";

/// The hostile test plugin's crate, relative to the workspace root.
const HOSTILE_DIR: &str = "tests/hostile-plugin";

/// What the components are built from, relative to the workspace root: a
/// change to any of these reruns this script.
const WATCHED: &[&str] = &[
    PLUGINS_DIR,
    HOSTILE_DIR,
    "plugin-sdk",
    "wit",
    "Cargo.toml",
    "Cargo.lock",
];

/// Environment variables removed from the nested cargo's environment.
const LEAKY_ENV: &[&str] = &[
    // Flags for the outer (native) build, e.g. `-C target-cpu=native` or
    // coverage instrumentation. Cargo hands the outer flags to build scripts
    // as CARGO_ENCODED_RUSTFLAGS, which a nested cargo would apply to wasm.
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    // The outer target and build directories; ours are set explicitly.
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_BUILD_DIR",
    // `cargo clippy` runs clippy-driver as the workspace wrapper, with its
    // flags in CLIPPY_ARGS: a lint in a plugin would fail this build.
    "RUSTC_WORKSPACE_WRAPPER",
    "CLIPPY_ARGS",
    // A default target for the outer build; ours is `--target`.
    "CARGO_BUILD_TARGET",
    // The outer build's linker, which a nested build script (e.g. `cc`)
    // could pick up for wasm.
    "RUSTC_LINKER",
    // The outer jobserver: its file descriptors are not ours to use.
    "CARGO_MAKEFLAGS",
    "MAKEFLAGS",
    "MFLAGS",
];

/// Prefixes of environment variables removed from the nested cargo's
/// environment: cargo sets them for this script and does not clear stale
/// ones (e.g. `CARGO_CFG_UNIX`) for the nested build's scripts.
const LEAKY_ENV_PREFIXES: &[&str] = &["CARGO_CFG_", "CARGO_FEATURE_"];

/// The message when the target's standard library is not installed.
const MISSING_TARGET: &str =
    "the wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2`";

/// A plugin crate to build.
struct Plugin {
    /// The package name, as `-p` takes it and `ALL` lists it.
    package: String,
    /// The library name, which names the `.wasm` artifact.
    lib: String,
}

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    // This crate lives at `<workspace>/tests/components`.
    let workspace = fs::canonicalize(manifest_dir.join("../.."))
        .unwrap_or_else(|e| panic!("cannot resolve the workspace root: {e}"));
    for path in WATCHED {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }

    let plugins = example_plugins(&workspace);
    let hostile = read_manifest(&workspace.join(HOSTILE_DIR));
    check_target_installed();

    let target_dir = workspace.join("target").join("plugins");
    build(&workspace, &target_dir, plugins.iter().chain([&hostile]));

    let artifacts = target_dir.join(TARGET).join(PROFILE);
    let mut code = generate(&artifacts, &plugins, &hostile);
    let javascript = build_javascript(&workspace, &target_dir.join("js"));
    code.push_str(&format!(
        "\n/// The keyword rule in JavaScript (`plugins-js/keyword-disposition`),\n\
         /// built with componentize-js against world 0.1.0 (`wit/0.1.0`).\n\
         pub const KEYWORD_DISPOSITION_JS: &str = {javascript:?};\n"
    ));
    fs::write(out_dir.join("components.rs"), code).expect("write components.rs");
}

/// The JavaScript plugin's directory, relative to the workspace root.
const JAVASCRIPT_DIR: &str = "plugins-js/keyword-disposition";

/// The world the JavaScript plugin is built against: the first one, so the
/// tests keep running a 0.1.0 component built from source, in a second
/// language, beside the committed 0.1.0 fixtures.
const JAVASCRIPT_WIT: &str = "wit/0.1.0";

/// Builds the JavaScript plugin with npm into `work` (never into the source
/// tree): its packages are installed once (`npm ci` from the lock file),
/// the component rebuilt when its sources change. Returns the component's
/// path.
fn build_javascript(workspace: &Path, work: &Path) -> String {
    let source = workspace.join(JAVASCRIPT_DIR);
    let inputs = [
        "keyword-disposition.js",
        "package.json",
        "package-lock.json",
    ];
    for input in inputs {
        println!("cargo:rerun-if-changed={}", source.join(input).display());
    }
    fs::create_dir_all(work).expect("create the JavaScript work directory");
    let lock_changed = fs::read(source.join("package-lock.json")).ok()
        != fs::read(work.join("package-lock.json")).ok();
    for input in inputs {
        fs::copy(source.join(input), work.join(input))
            .unwrap_or_else(|e| panic!("copying {input} of {JAVASCRIPT_DIR}: {e}"));
    }
    let npm = env::var("NPM").unwrap_or_else(|_| "npm".into());
    if lock_changed || !work.join("node_modules").is_dir() {
        run_node_tool(
            Command::new(&npm)
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(work),
        );
    }
    let component = work.join("keyword-disposition.wasm");
    run_node_tool(
        Command::new(work.join("node_modules/.bin/componentize-js"))
            .arg(work.join("keyword-disposition.js"))
            .arg("--wit")
            .arg(workspace.join(JAVASCRIPT_WIT))
            .args(["--world-name", "trigger"])
            .args([
                "--disable",
                "stdio",
                "random",
                "clocks",
                "http",
                "fetch-event",
            ])
            .arg("--out")
            .arg(&component)
            .current_dir(work),
    );
    component
        .into_os_string()
        .into_string()
        .unwrap_or_else(|path| panic!("{path:?} is not UTF-8"))
}

fn run_node_tool(command: &mut Command) {
    let shown = format!("{command:?}");
    let output = command.output().unwrap_or_else(|e| {
        panic!(
            "cannot run {shown}: {e}\nthe JavaScript plugin needs Node.js 20 or later with npm on PATH"
        )
    });
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stdout));
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        panic!(
            "building the JavaScript plugin failed: {shown} ({})",
            output.status
        );
    }
}

/// Every crate under `plugins/`, in name order.
///
/// A directory without a `Cargo.toml` is skipped with a warning (cargo's
/// `plugins/*` member glob would reject it first anyway).
fn example_plugins(workspace: &Path) -> Vec<Plugin> {
    let dir = workspace.join(PLUGINS_DIR);
    let entries =
        fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut plugins = Vec::new();
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .path();
        let hidden = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'));
        if !path.is_dir() || hidden {
            continue;
        }
        if !path.join("Cargo.toml").is_file() {
            println!("cargo:warning=skipping {}: no Cargo.toml", path.display());
            continue;
        }
        plugins.push(read_manifest(&path));
    }
    plugins.sort_by(|a, b| a.package.cmp(&b.package));
    plugins
}

/// Reads the package and library names from a crate's `Cargo.toml`.
///
/// A deliberately small reader (no TOML dependency): it takes the `name`
/// keys of the `[package]` and `[lib]` tables.
fn read_manifest(crate_dir: &Path) -> Plugin {
    let path = crate_dir.join("Cargo.toml");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let (mut package, mut lib) = (None, None);
    let mut table = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            table = line.to_string();
        } else if let Some(value) = name_value(line) {
            match table.as_str() {
                "[package]" => package = Some(value),
                "[lib]" => lib = Some(value),
                _ => {}
            }
        }
    }
    let package = package.unwrap_or_else(|| panic!("{} has no [package] name", path.display()));
    let lib = lib.unwrap_or_else(|| package.replace('-', "_"));
    Plugin { package, lib }
}

/// The string value of a `name = "…"` line.
fn name_value(line: &str) -> Option<String> {
    let value = line
        .strip_prefix("name")?
        .trim_start()
        .strip_prefix('=')?
        .trim();
    let value = value.strip_prefix('"')?;
    Some(value[..value.find('"')?].to_string())
}

/// Fails with [`MISSING_TARGET`] when the sysroot has no wasm32-wasip2
/// standard library. If the sysroot cannot be found, says nothing and lets
/// the nested build report.
fn check_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let Ok(output) = Command::new(&rustc).args(["--print", "sysroot"]).output() else {
        return;
    };
    if !output.status.success() {
        return;
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    if !sysroot.join("lib/rustlib").join(TARGET).is_dir() {
        panic!(
            "{MISSING_TARGET} (no {TARGET} in the sysroot {})",
            sysroot.display()
        );
    }
}

/// Runs one nested `cargo build` for all `plugins`; panics with the nested
/// cargo's stderr and the failed command when it fails.
fn build<'a>(workspace: &Path, target_dir: &Path, plugins: impl Iterator<Item = &'a Plugin>) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .arg("build")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .args(["--target", TARGET, "--profile", PROFILE])
        // Report every broken plugin at once, not just the first.
        .arg("--keep-going");
    for plugin in plugins {
        cmd.args(["-p", &plugin.package]);
    }
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        if LEAKY_ENV.contains(&key.as_ref())
            || LEAKY_ENV_PREFIXES.iter().any(|p| key.starts_with(p))
        {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd.env("CARGO_TARGET_DIR", target_dir)
        .env("CARGO_BUILD_BUILD_DIR", target_dir);

    let shown = format!("{cmd:?}");
    eprintln!("running: {shown}");
    let started = Instant::now();
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not run the nested cargo build ({e}): {shown}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}");
    eprintln!("nested cargo build took {:.1?}", started.elapsed());
    if !output.status.success() {
        if stderr.contains("target may not be installed")
            || stderr.contains("can't find crate for `core`")
        {
            panic!("{MISSING_TARGET}");
        }
        panic!(
            "building the plugin components failed ({}); the nested cargo's errors are above.\n\
             command: {shown}",
            output.status
        );
    }
}

/// The Rust source of the consts: one per example plugin, `ALL` and
/// `HOSTILE_PLUGIN`.
fn generate(artifacts: &Path, plugins: &[Plugin], hostile: &Plugin) -> String {
    let mut code = String::new();
    let mut all = String::new();
    let mut embedded = String::new();
    let mut names = vec!["ALL".to_string(), "HOSTILE_PLUGIN".to_string()];
    for plugin in plugins {
        let name = const_name(&plugin.package);
        assert!(
            !names.contains(&name),
            "plugin `{}` would be the const `{name}`, which is taken; rename the plugin",
            plugin.package
        );
        let path = component_path(artifacts, plugin);
        writeln!(
            code,
            "/// The `{}` example plugin, as a component.",
            plugin.package
        )
        .unwrap();
        writeln!(code, "pub const {name}: &str = {path:?};\n").unwrap();
        writeln!(all, "    ({:?}, {name}),", plugin.package).unwrap();
        writeln!(
            embedded,
            "    ({:?}, include_bytes!({path:?})),",
            plugin.package
        )
        .unwrap();
        names.push(name);
    }
    writeln!(
        code,
        "/// Every example plugin under `plugins/`, as (crate name, component path),\n\
         /// in crate name order. Does not include [`HOSTILE_PLUGIN`].\n\
         pub const ALL: &[(&str, &str)] = &[\n{all}];\n\n\
         /// Every example plugin's component bytes, built into the binary so the\n\
         /// demo needs no build step: (crate name, bytes), in crate name order.\n\
         pub static EMBEDDED: &[(&str, &[u8])] = &[\n{embedded}];\n"
    )
    .unwrap();
    writeln!(
        code,
        "/// The hostile test plugin (`{}`), as a component: it attacks the sandbox\n\
         /// in the way its `attack` config key names.\n\
         pub const HOSTILE_PLUGIN: &str = {:?};",
        hostile.package,
        component_path(artifacts, hostile)
    )
    .unwrap();
    code
}

/// The built component of `plugin`; panics if the build left none, which
/// happens when its `[lib]` is not a `cdylib`.
fn component_path(artifacts: &Path, plugin: &Plugin) -> String {
    let path = artifacts.join(format!("{}.wasm", plugin.lib));
    assert!(
        path.is_file(),
        "`{}` built, but left no component at {}: its [lib] needs crate-type = [\"cdylib\"]",
        plugin.package,
        path.display()
    );
    path.into_os_string()
        .into_string()
        .unwrap_or_else(|path| panic!("{path:?} is not UTF-8"))
}

/// `not-traceable-callback` → `NOT_TRACEABLE_CALLBACK`.
fn const_name(package: &str) -> String {
    package.to_uppercase().replace(['-', '.'], "_")
}
