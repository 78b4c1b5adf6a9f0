//! Components written byte by byte to cost whoever compiles them, for the
//! tests of the host's upload bounds and compile limits and for the proof
//! harness: the one builder they all use, so no two of them can disagree
//! on what a bomb is.
//!
//! Every component here has the same frame ([`component`]): its core
//! modules, the first instantiated, and that module's function 0 lifted
//! and exported as `on-event` with the wrong type (`func()`), which only a
//! finished compile finds. So even a bomb the bounds admit and the
//! compiler finishes is refused in the end, and nothing of it is kept.
//! Every core module ([`core_module`]) has one page of memory and exports
//! its function 0 as `f`; every function is `() -> ()` ([`body`]).
//!
//! It owns no bounds: callers pass the host's (`MAX_LOCALS`,
//! `MAX_FUNCTION_BYTES` in `runtime::precheck`, or the proof's mirror of
//! them), so this crate needs no host to build.

/// A component of `modules` (core modules, see [`core_module`]): the
/// first is instantiated and its `f` exported as `on-event` of type
/// `func()`, the wrong type for the host's world.
pub fn component(modules: &[Vec<u8>]) -> Vec<u8> {
    let mut component = b"\0asm\x0d\x00\x01\x00".to_vec();
    for module in modules {
        component.extend(section(1, module));
    }
    // core instance 0 = instantiate module 0
    component.extend(section(2, &[1, 0x00, 0x00, 0x00]));
    // alias core func 0 = export "f" of core instance 0
    component.extend(section(6, &[1, 0x00, 0x00, 0x01, 0x00, 1, b'f']));
    // type 0 = func() -> ()
    component.extend(section(7, &[1, 0x40, 0x00, 0x01, 0x00]));
    // func 0 = canon lift (core func 0), type 0
    component.extend(section(8, &[1, 0x00, 0x00, 0x00, 0x00, 0x00]));
    // export "on-event" = func 0
    let mut export = vec![1, 0x00, 8];
    export.extend(b"on-event");
    export.extend([0x01, 0x00, 0x00]);
    component.extend(section(11, &export));
    component
}

/// A core module with one `() -> ()` function per body (see [`body`]),
/// one page of memory, and function 0 exported as `f`. Bodies may be
/// empty of functions only for a module nobody instantiates.
pub fn core_module(bodies: &[Vec<u8>]) -> Vec<u8> {
    let mut functions = leb(bodies.len());
    functions.extend(std::iter::repeat_n(0, bodies.len())); // all of type 0
    let mut code = leb(bodies.len());
    for body in bodies {
        code.extend(leb(body.len()));
        code.extend(body);
    }
    let mut module = b"\0asm\x01\x00\x00\x00".to_vec();
    module.extend(section(1, &[1, 0x60, 0, 0])); // type 0: () -> ()
    module.extend(section(3, &functions));
    module.extend(section(5, &[1, 0, 1])); // one page of memory
    module.extend(section(7, &[1, 1, b'f', 0, 0])); // export "f" = func 0
    module.extend(section(10, &code));
    module
}

/// A function body: `locals` `i64` locals, then `instructions`, then
/// `end`.
pub fn body(locals: usize, instructions: &[u8]) -> Vec<u8> {
    let mut body = match locals {
        0 => vec![0],
        _ => {
            let mut declared = vec![1];
            declared.extend(leb(locals));
            declared.push(0x7e); // i64
            declared
        }
    };
    body.extend(instructions);
    body.push(0x0b); // end
    body
}

/// A component whose one core function declares `locals` `i64` locals and
/// loops over `rounds` rounds of multiplying each by another, so every
/// local is live across the loop: the register allocator's worst case
/// (the 452 KB bomb took 51 s of CPU; BENCHMARKS.md has what this
/// shape costs at the bounds).
pub fn locals_bomb(locals: usize, rounds: usize) -> Vec<u8> {
    let mut code = vec![0x03, 0x40]; // loop
    for round in 0..rounds {
        for i in 0..locals {
            let j = (i * 7 + round + 1) % locals;
            code.push(0x20); // local.get i
            code.extend(leb(i));
            code.push(0x20); // local.get j
            code.extend(leb(j));
            code.push(0x7e); // i64.mul
            code.push(0x21); // local.set i
            code.extend(leb(i));
        }
    }
    // i32.load (i32.const 0); br_if 0; end (loop)
    code.extend([0x41, 0x00, 0x28, 0x02, 0x00, 0x0d, 0x00, 0x0b]);
    component(&[core_module(&[body(locals, &code)])])
}

/// The costliest [`locals_bomb`] bounds of `max_locals` locals and
/// `max_function_bytes` per function body admit: the most locals, in as
/// many rounds as fit in the body bound.
pub fn admitted_locals_bomb(max_locals: usize, max_function_bytes: usize) -> Vec<u8> {
    let round = locals_bomb(max_locals, 2).len() - locals_bomb(max_locals, 1).len();
    let rounds = (max_function_bytes - 64) / round;
    locals_bomb(max_locals, rounds)
}

/// A component whose one core module has `functions` functions, each a
/// run of `call 0`, making about `code_bytes` of code in all: cheap to
/// compile per byte, but each call is machine code and a relocation, so
/// the compile's memory grows with the code (BENCHMARKS.md has what it
/// costs).
pub fn calls_bomb(code_bytes: usize, functions: usize) -> Vec<u8> {
    let calls = code_bytes / functions / 2;
    let call = [0x10, 0x00].repeat(calls); // call 0
    component(&[core_module(&vec![body(0, &call); functions])])
}

/// A section: its id, then its contents with their length.
fn section(id: u8, contents: &[u8]) -> Vec<u8> {
    let mut bytes = vec![id];
    bytes.extend(leb(contents.len()));
    bytes.extend(contents);
    bytes
}

/// `value` as unsigned LEB128, the encoding of every size and index in
/// wasm; public for callers that write wasm bytes of their own.
pub fn leb(mut value: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";

    #[test]
    fn every_builder_makes_a_component_and_a_core_module_is_not_one() {
        for bytes in [
            locals_bomb(4, 1),
            calls_bomb(1 << 10, 4),
            component(&[
                core_module(&[body(0, &[])]),
                core_module(&[body(2, &[0x01])]),
            ]),
        ] {
            assert_eq!(&bytes[..8], COMPONENT);
        }
        assert_eq!(&core_module(&[body(0, &[])])[..8], b"\0asm\x01\x00\x00\x00");
    }

    #[test]
    fn the_admitted_locals_bomb_nearly_fills_the_body_bound() {
        let (locals, bound) = (1_024, 256 << 10);
        let bytes = admitted_locals_bomb(locals, bound).len();
        assert!((bound * 9 / 10..bound).contains(&bytes), "{bytes}");
        let larger = locals_bomb(locals, 50).len();
        assert!(larger > 450_000, "the issue's bomb: {larger}");
    }

    #[test]
    fn leb128_spans_bytes_at_seven_bits() {
        assert_eq!(leb(0), [0]);
        assert_eq!(leb(127), [127]);
        assert_eq!(leb(128), [0x80, 1]);
        assert_eq!(leb(624_485), [0xe5, 0x8e, 0x26]);
    }
}
