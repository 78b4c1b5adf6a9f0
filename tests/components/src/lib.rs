//! The example plugins and the hostile test plugin, compiled to
//! wasm32-wasip2 components for tests: this crate exposes their paths.
//!
//! Test-only (`publish = false`). Its build script runs a nested
//! `cargo build --target wasm32-wasip2 --profile plugin` for every crate
//! under `plugins/` and for `tests/hostile-plugin`, into
//! `target/plugins`, and writes one const per component:
//!
//! - one per example plugin, named after its crate in upper snake case
//!   (`not-traceable-callback` → [`NOT_TRACEABLE_CALLBACK`]);
//! - [`ALL`]: every example plugin as (crate name, path);
//! - [`HOSTILE_PLUGIN`]: the plugin that attacks the sandbox;
//! - [`v0_1_0`]: components built for world 0.1.0, committed, never rebuilt.
//!
//! Each const is the absolute path of a component file, to read with
//! `std::fs::read` or hand to `wasmtime::component::Component::from_file`.
//! It owns no loading or running of components: that is the host's.
//!
//! [`bombs`] builds the other kind of test component: ones written byte by
//! byte to cost a compiler (the upload bounds' and compile limits' tests,
//! and the proof harness, use it).
//!
//! The build fails, naming the command and showing cargo's errors, when a
//! plugin does not compile or the wasm32-wasip2 target is missing.

pub mod bombs;

include!(concat!(env!("OUT_DIR"), "/components.rs"));

/// Components of world `smstrigger:plugin@0.1.0`, built by that world's SDK
/// (commit 245656f, the last before 0.2.0) and committed under
/// `fixtures/plugin-0.1.0`: the contract's stability test. They must load,
/// run and decide as they did, forever; never rebuild them.
pub mod v0_1_0 {
    /// `plugins/delivered-followup` as of world 0.1.0.
    pub const DELIVERED_FOLLOWUP: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/plugin-0.1.0/delivered_followup.wasm"
    );

    /// `plugins/keyword-disposition` as of world 0.1.0.
    pub const KEYWORD_DISPOSITION: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/plugin-0.1.0/keyword_disposition.wasm"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// `\0asm` followed by the component-model version and layer
    /// (`0d 00 01 00`); a core module would have `01 00 00 00`.
    const COMPONENT_HEADER: [u8; 8] = *b"\0asm\x0d\x00\x01\x00";

    #[test]
    fn every_path_is_a_component() {
        let listed = ALL
            .iter()
            .copied()
            .chain([("hostile-plugin", HOSTILE_PLUGIN)]);
        for (name, path) in listed {
            let mut header = [0; 8];
            std::fs::File::open(path)
                .and_then(|mut file| file.read_exact(&mut header))
                .unwrap_or_else(|e| panic!("{name}: cannot read {path}: {e}"));
            assert_eq!(
                header, COMPONENT_HEADER,
                "{name}: {path} is not a component"
            );
        }
    }

    #[test]
    fn all_lists_each_example_plugin_once_in_name_order() {
        assert!(ALL.contains(&("not-traceable-callback", NOT_TRACEABLE_CALLBACK)));
        assert!(ALL.windows(2).all(|pair| pair[0].0 < pair[1].0), "{ALL:?}");
        assert!(ALL.iter().all(|(_, path)| *path != HOSTILE_PLUGIN));
    }
}
