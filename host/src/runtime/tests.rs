//! Contract checks on hand-written components; the real plugins are
//! exercised in `host/tests/runtime`.

use super::*;

fn runtime() -> Runtime {
    Runtime::new(None).unwrap()
}

fn load_wat(wat: &str) -> Result<Plugin, Error> {
    let bytes = wat::parse_str(wat).unwrap();
    runtime().load(&bytes)
}

#[test]
fn an_import_the_host_does_not_give_is_named() {
    let err = load_wat(r#"(component (import "wasi:http/outgoing-handler@0.2.0" (instance (export "handle" (func)))))"#)
        .unwrap_err();
    assert_eq!(err.code(), "contract_mismatch");
    assert!(
        err.to_string().contains("wasi:http/outgoing-handler@0.2.0"),
        "{err}"
    );
}

#[test]
fn a_component_without_on_event_is_refused_by_name() {
    let err = load_wat("(component)").unwrap_err();
    assert_eq!(err.code(), "contract_mismatch");
    assert!(err.to_string().contains("on-event"), "{err}");
}

#[test]
fn an_on_event_of_the_wrong_type_is_refused() {
    let err = load_wat(
        r#"(component
            (core module $m (func (export "f") (result i32) i32.const 0))
            (core instance $i (instantiate $m))
            (func (export "on-event") (result u32) (canon lift (core func $i "f"))))"#,
    )
    .unwrap_err();
    assert_eq!(err.code(), "contract_mismatch", "{err}");
}

#[test]
fn bytes_that_are_not_a_component_do_not_compile() {
    let err = runtime().load(b"definitely not wasm").unwrap_err();
    assert_eq!(err.code(), "compile_failed");
}

#[test]
fn a_core_module_is_not_a_component() {
    let err = load_wat("(module)").unwrap_err();
    assert_eq!(err.code(), "compile_failed", "{err}");
}

#[test]
fn a_long_text_is_cut_at_a_character_boundary() {
    assert_eq!(host::truncated("short", 10), "short");
    let cut = host::truncated("ééééé", 6);
    assert_eq!(cut, "é...");
    assert!(cut.len() <= 6);
}
