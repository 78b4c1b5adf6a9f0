//! Reads a component's shape with wasmparser before anything compiles it.
//!
//! Compile time grows with the size of a function and the values live in
//! it (one function with thousands of live `i64`s, 452 KB, took 51 s of
//! CPU), so an upload is walked first, without compiling or validating:
//! it must be a component, import only what the runtime's linker links,
//! export `on-event`, and every nested core module must stay within the
//! bounds below. A component that breaks one is refused with a
//! [`Refused`] naming the bound, in the time it takes to read it.
//!
//! The bounds admit every shipped plugin with a wide margin: the
//! JavaScript plugin (a SpiderMonkey build, 12 MB) is by far the largest,
//! and its figures are in BENCHMARKS.md ("What compiling may cost"). They
//! do not make a compile cheap, only finite; the compile's CPU and memory
//! limits (see [`super::compile`]) are what hold the worst admitted
//! component to a bounded cost.

use wasmparser::{ComponentTypeRef, Encoding, Parser, Payload, TypeBounds};

use super::refused::Refused;

/// Core modules in one component, nested ones included. Every shipped
/// plugin has 3 (its code and the adapter's shims).
pub const MAX_CORE_MODULES: usize = 16;

/// Functions defined by one core module. The JavaScript plugin defines
/// about 12,700 of them.
pub const MAX_FUNCTIONS: u64 = 50_000;

/// Bytes of one function body. Compile time grows faster than linearly in
/// a function's size; the JavaScript plugin's largest body is 172 KB, and
/// the compile bomb of the issue was one 452 KB function.
pub const MAX_FUNCTION_BYTES: usize = 256 << 10;

/// Locals one function declares (parameters not counted). Each is a value
/// the register allocator may have to keep alive across the function's
/// loops, which is what makes a compile slow: at the function size bound
/// the cost grows with the locals (BENCHMARKS.md, "What compiling may
/// cost"). The JavaScript plugin's most is 118; Rust plugins' about 20.
pub const MAX_LOCALS: u64 = 1_024;

/// Bytes of code (function bodies) in all core modules together. The
/// JavaScript plugin has 9.2 MB.
pub const MAX_CODE_BYTES: usize = 24 << 20;

/// Items the component itself imports, type names excepted. Shipped
/// plugins import 15 to 27 interfaces.
pub const MAX_IMPORTS: usize = 64;

/// What the walk measured: the figures the bounds are checked against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// The component's own imports the linker must give, by name (e.g.
    /// `wasi:io/error@0.2.0`); imported names for types are not listed.
    pub imports: Vec<String>,
    /// Whether the component exports `on-event`.
    pub exports_on_event: bool,
    /// Core modules, nested ones included.
    pub core_modules: usize,
    /// The core module defining the most functions, and how many.
    pub most_functions: Peak,
    /// The largest function body, in bytes.
    pub largest_function: Peak,
    /// The function declaring the most locals, and how many.
    pub most_locals: Peak,
    /// Bytes of function bodies in all core modules.
    pub code_bytes: usize,
}

/// The largest value of one figure and where it is: the core module (in
/// the order they appear, from 0) and the function's index in its code
/// section.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Peak {
    pub value: u64,
    pub module: usize,
    pub function: u32,
}

impl Peak {
    fn raise(&mut self, value: u64, module: usize, function: u32) {
        if value > self.value {
            *self = Peak {
                value,
                module,
                function,
            };
        }
    }
}

/// Measures `bytes` without compiling or validating it.
///
/// A core module (not a component) is [`Refused::NotAComponent`]; bytes
/// wasmparser cannot read are [`Refused::Malformed`]. The figures are
/// exact for a well-formed component; compiling validates the rest.
pub fn shape(bytes: &[u8]) -> Result<Shape, Refused> {
    let malformed = |e: wasmparser::BinaryReaderError| Refused::Malformed {
        reason: e.to_string(),
    };
    let mut shape = Shape::default();
    // The encodings of the (nested) modules and components being read.
    let mut stack: Vec<Encoding> = Vec::new();
    // The current core module and function.
    let mut module = 0;
    let mut function = 0;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(malformed)? {
            Payload::Version { encoding, .. } => {
                if stack.is_empty() && encoding != Encoding::Component {
                    return Err(Refused::NotAComponent);
                }
                if encoding == Encoding::Module {
                    module = shape.core_modules;
                    function = 0;
                    shape.core_modules += 1;
                }
                stack.push(encoding);
            }
            Payload::End(_) => {
                stack.pop();
            }
            Payload::ComponentImportSection(reader) if stack.len() == 1 => {
                for import in reader {
                    let import = import.map_err(malformed)?;
                    // A type equal to one of another import names that
                    // type (`sms-event`); the linker has nothing to give.
                    if !matches!(import.ty, ComponentTypeRef::Type(TypeBounds::Eq(_))) {
                        shape.imports.push(import.name.name.to_string());
                    }
                }
            }
            Payload::ComponentExportSection(reader) if stack.len() == 1 => {
                for export in reader {
                    if export.map_err(malformed)?.name.name == "on-event" {
                        shape.exports_on_event = true;
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                shape
                    .most_functions
                    .raise(u64::from(reader.count()), module, 0);
            }
            Payload::CodeSectionStart { count, .. } => {
                shape.most_functions.raise(u64::from(count), module, 0);
            }
            Payload::CodeSectionEntry(body) => {
                let size = body.range().len();
                shape.code_bytes += size;
                shape.largest_function.raise(size as u64, module, function);
                let mut locals = 0u64;
                let mut reader = body.get_locals_reader().map_err(malformed)?;
                for _ in 0..reader.get_count() {
                    let (count, _) = reader.read().map_err(malformed)?;
                    locals = locals.saturating_add(u64::from(count));
                }
                shape.most_locals.raise(locals, module, function);
                function += 1;
            }
            _ => {}
        }
    }
    Ok(shape)
}

/// Checks `bytes` against every bound and the world's imports and export,
/// before any compile; `links` says whether the runtime links an import
/// (see `linked.rs`).
///
/// The first bound broken is the answer, so the message names one limit
/// (and, for a function bound, the module and function); the size bounds
/// come first, then the imports, then the export.
pub fn check(bytes: &[u8], mut links: impl FnMut(&str) -> bool) -> Result<Shape, Refused> {
    let shape = shape(bytes)?;
    if shape.core_modules > MAX_CORE_MODULES {
        return Err(Refused::TooManyModules {
            count: shape.core_modules,
            limit: MAX_CORE_MODULES,
        });
    }
    if shape.code_bytes > MAX_CODE_BYTES {
        return Err(Refused::CodeTooLarge {
            bytes: shape.code_bytes,
            limit: MAX_CODE_BYTES,
        });
    }
    let Peak { value, module, .. } = shape.most_functions;
    if value > MAX_FUNCTIONS {
        return Err(Refused::TooManyFunctions {
            module,
            count: value,
            limit: MAX_FUNCTIONS,
        });
    }
    let Peak {
        value,
        module,
        function,
    } = shape.largest_function;
    if value > MAX_FUNCTION_BYTES as u64 {
        return Err(Refused::FunctionTooLarge {
            module,
            function,
            bytes: value as usize,
            limit: MAX_FUNCTION_BYTES,
        });
    }
    let Peak {
        value,
        module,
        function,
    } = shape.most_locals;
    if value > MAX_LOCALS {
        return Err(Refused::TooManyLocals {
            module,
            function,
            count: value,
            limit: MAX_LOCALS,
        });
    }
    if shape.imports.len() > MAX_IMPORTS {
        return Err(Refused::TooManyImports {
            count: shape.imports.len(),
            limit: MAX_IMPORTS,
        });
    }
    if let Some(name) = shape.imports.iter().find(|name| !links(name)) {
        return Err(Refused::ImportNotLinked { name: name.clone() });
    }
    if !shape.exports_on_event {
        return Err(Refused::MissingOnEvent);
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use smstrigger_test_components::bombs::{self, component, core_module};

    use super::super::{CompileCache, Runtime};
    use super::*;

    /// A function body declaring `locals` `i64` locals, then `nops` nops.
    fn body(locals: usize, nops: usize) -> Vec<u8> {
        bombs::body(locals, &vec![0x01; nops])
    }

    fn links_nothing(_: &str) -> bool {
        false
    }

    #[test]
    fn every_shipped_plugin_is_within_the_bounds_with_room_to_spare() {
        let mut plugins = smstrigger_test_components::ALL.to_vec();
        plugins.push((
            "keyword-disposition-js",
            smstrigger_test_components::KEYWORD_DISPOSITION_JS,
        ));
        plugins.push(("hostile-plugin", smstrigger_test_components::HOSTILE_PLUGIN));
        for (name, path) in plugins {
            let bytes = std::fs::read(path).unwrap();
            let shape = check(&bytes, super::super::linked::links)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            println!("{name}: {shape:?}");
            // Room to spare: at most two thirds of every bound.
            let two_thirds = |limit: u64| limit * 2 / 3;
            assert!(
                shape.core_modules as u64 <= two_thirds(MAX_CORE_MODULES as u64),
                "{name}"
            );
            assert!(
                shape.most_functions.value <= two_thirds(MAX_FUNCTIONS),
                "{name}"
            );
            assert!(
                shape.largest_function.value <= two_thirds(MAX_FUNCTION_BYTES as u64),
                "{name}"
            );
            assert!(shape.most_locals.value <= two_thirds(MAX_LOCALS), "{name}");
            assert!(
                shape.code_bytes as u64 <= two_thirds(MAX_CODE_BYTES as u64),
                "{name}"
            );
            assert!(
                shape.imports.len() as u64 <= two_thirds(MAX_IMPORTS as u64),
                "{name}"
            );
        }
    }

    #[test]
    fn a_core_module_is_refused_as_not_a_component() {
        let module = core_module(&[body(0, 0)]);
        assert_eq!(check(&module, links_nothing), Err(Refused::NotAComponent));
    }

    #[test]
    fn a_function_over_the_size_bound_is_refused_naming_it() {
        let small = body(0, 10);
        let huge = body(0, MAX_FUNCTION_BYTES);
        let bytes = component(&[
            core_module(std::slice::from_ref(&small)),
            core_module(&[small, huge.clone()]),
        ]);
        let err = check(&bytes, |_| true).unwrap_err();
        assert_eq!(
            err,
            Refused::FunctionTooLarge {
                module: 1,
                function: 1,
                bytes: huge.len(),
                limit: MAX_FUNCTION_BYTES
            }
        );
        assert_eq!(err.code(), "function_too_large");
    }

    #[test]
    fn a_function_with_too_many_locals_is_refused() {
        let bytes = component(&[core_module(&[body(MAX_LOCALS as usize + 1, 0)])]);
        let err = check(&bytes, |_| true).unwrap_err();
        assert_eq!(err.code(), "too_many_locals");
        assert!(err.to_string().contains(&MAX_LOCALS.to_string()), "{err}");
        // Exactly at the bound is admitted.
        let bytes = component(&[core_module(&[body(MAX_LOCALS as usize, 0)])]);
        assert_eq!(
            shape(&bytes).unwrap().most_locals.value,
            MAX_LOCALS,
            "locals are counted exactly"
        );
    }

    #[test]
    fn a_module_with_too_many_functions_is_refused() {
        let bodies = vec![body(0, 0); MAX_FUNCTIONS as usize + 1];
        let err = check(&component(&[core_module(&bodies)]), |_| true).unwrap_err();
        assert_eq!(err.code(), "too_many_functions");
    }

    #[test]
    fn too_many_core_modules_are_refused() {
        let modules = vec![core_module(&[body(0, 0)]); MAX_CORE_MODULES + 1];
        let err = check(&component(&modules), |_| true).unwrap_err();
        assert_eq!(
            err,
            Refused::TooManyModules {
                count: MAX_CORE_MODULES + 1,
                limit: MAX_CORE_MODULES
            }
        );
    }

    #[test]
    fn code_over_the_total_bound_in_functions_each_within_theirs_is_refused() {
        let per_function = MAX_FUNCTION_BYTES - 16;
        let count = MAX_CODE_BYTES / per_function + 1;
        let bodies = vec![body(0, per_function); count];
        let err = check(&component(&[core_module(&bodies)]), |_| true).unwrap_err();
        assert_eq!(err.code(), "code_too_large", "{err}");
    }

    #[test]
    fn bytes_that_are_not_wasm_are_refused_as_unreadable() {
        let err = check(b"\0asm\x0d\x00\x01\x00\x01\xff\xff", |_| true).unwrap_err();
        assert!(matches!(err, Refused::Malformed { .. }), "{err}");
    }

    #[test]
    fn an_import_the_host_does_not_link_is_refused_before_compiling() {
        let bytes = wat::parse_str(
            r#"(component
                (import "wasi:io/error@0.2.0" (instance))
                (import "wasi:http/outgoing-handler@0.2.0" (instance)))"#,
        )
        .unwrap();
        let err = Runtime::new(None).unwrap().load(&bytes).unwrap_err();
        assert_eq!(
            err,
            super::super::Error::Refused(Refused::ImportNotLinked {
                name: "wasi:http/outgoing-handler@0.2.0".into()
            })
        );
    }

    #[test]
    fn a_bomb_over_a_bound_is_refused_fast_and_leaves_nothing_in_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Runtime::new(Some(CompileCache::open(dir.path()).unwrap())).unwrap();
        // One function of 4 MiB: the compile would take minutes.
        let bytes = component(&[core_module(&[body(0, 4 << 20)])]);
        let started = Instant::now();
        let err = runtime.load(&bytes).unwrap_err();
        assert_eq!(err.code(), "function_too_large", "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a generous bound"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_component_refused_after_compiling_leaves_no_compiled_file() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Runtime::new(Some(CompileCache::open(dir.path()).unwrap())).unwrap();
        // Passes the shape checks, compiles, then fails the type check.
        let bytes = wat::parse_str(
            r#"(component
                (core module $m (func (export "f") (result i32) i32.const 0))
                (core instance $i (instantiate $m))
                (func (export "on-event") (result u32) (canon lift (core func $i "f"))))"#,
        )
        .unwrap();
        let err = runtime.load(&bytes).unwrap_err();
        assert_eq!(err.code(), "contract_mismatch", "{err}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_component_that_loads_is_cached_once_checked() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Runtime::new(Some(CompileCache::open(dir.path()).unwrap())).unwrap();
        let bytes = std::fs::read(smstrigger_test_components::DELIVERED_FOLLOWUP).unwrap();
        let plugin = runtime.load(&bytes).unwrap();
        let cached = dir.path().join(format!("{}.cwasm", plugin.sha256()));
        assert!(cached.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
