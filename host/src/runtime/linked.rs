//! The interfaces the runtime's linker links, by name, for the upload check.
//!
//! [`super::precheck`] refuses a component that imports anything else
//! before compiling it. wasmtime's `Linker` cannot list what it defines,
//! and a probe cannot ask it either (an import it does not define but
//! whose type has no functions passes its type check), so the names are
//! listed here, next to the code that links them: `Runtime::with_engine`
//! links `wasmtime_wasi::p2::add_to_linker_sync` (the 0.2 WASI interfaces
//! below) and the `host` interface of `wit/`. A name added to or removed
//! from the linker must be added here or removed; a component importing a
//! listed name the linker lacks still fails the type check after compiling.
//!
//! Versions match as the linker matches them: any 0.2 patch of WASI, the
//! exact version of `smstrigger:plugin`.

/// WASI 0.2 interfaces `wasmtime_wasi::p2::add_to_linker_sync` links.
const WASI: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stderr",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stderr",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:filesystem/preopens",
    "wasi:filesystem/types",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:random/random",
    "wasi:sockets/instance-network",
    "wasi:sockets/ip-name-lookup",
    "wasi:sockets/network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
];

/// The WASI version prefix every linked WASI interface matches.
const WASI_VERSION: &str = "0.2.";

/// The plugin interfaces of `wit/` (`types` has only types; it links
/// without a definition).
const PLUGIN: &[&str] = &[
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
        assert!(!links("smstrigger:plugin/host@0.2.0"));
    }
}
