//! The interfaces the runtime's linker links, by name, for the upload check.
//!
//! [`super::precheck`] refuses a component that imports anything else
//! before compiling it. wasmtime's `Linker` cannot list what it defines,
//! and a probe cannot ask it either (an import it does not define but
//! whose type has no functions passes its type check), so the names are
//! taken from the code that links them: `runtime::wasi::add_to_linker`
//! links exactly `wasi::LINKED`, and `Runtime::with_engine` the `host`
//! interface of each version in `wit/`. A component importing a listed name the linker
//! lacks would still fail the type check after compiling.
//!
//! Versions match as the linker matches them: any 0.2 patch of WASI, the
//! exact version of `smstrigger:plugin`.

/// The WASI 0.2 interfaces the linker links: `runtime::wasi`'s list, the
/// one both the linker and this check read.
use super::wasi::LINKED as WASI;

/// The WASI version prefix every linked WASI interface matches.
const WASI_VERSION: &str = "0.2.";

/// The plugin interfaces of every version in `wit/` (`types` has only
/// types; it links without a definition).
const PLUGIN: &[&str] = &[
    "smstrigger:plugin/host@0.2.0",
    "smstrigger:plugin/types@0.2.0",
    "smstrigger:plugin/host@0.1.0",
    "smstrigger:plugin/types@0.1.0",
];

/// Every interface a plugin may import, with its version (`*` for any
/// 0.2 patch of WASI); what the upload check admits.
pub fn linked_interfaces() -> impl Iterator<Item = String> {
    WASI.iter()
        .map(|name| format!("{name}@{WASI_VERSION}*"))
        .chain(PLUGIN.iter().map(|name| name.to_string()))
}

/// Whether the linker links an import named `name` (`interface@version`).
pub(crate) fn links(name: &str) -> bool {
    if PLUGIN.contains(&name) {
        return true;
    }
    let Some((interface, version)) = name.split_once('@') else {
        return false;
    };
    WASI.contains(&interface)
        && version
            .strip_prefix(WASI_VERSION)
            .is_some_and(|patch| !patch.is_empty() && patch.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_interface_links_and_nothing_else_does() {
        for name in linked_interfaces() {
            assert!(links(&name.replace('*', "6")), "{name}");
        }
        assert!(links("wasi:io/error@0.2.0"));
        assert!(!links("wasi:io/error@0.3.0"));
        assert!(!links("wasi:io/error@0.2.0-rc"));
        assert!(!links("wasi:io/error"));
        assert!(!links("wasi:http/outgoing-handler@0.2.0"));
        assert!(links("smstrigger:plugin/host@0.1.0"));
        assert!(links("smstrigger:plugin/host@0.2.0"));
        assert!(!links("smstrigger:plugin/host@0.3.0"));
    }
}
