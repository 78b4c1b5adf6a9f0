//! Compile bombs: components whose one core function is the register
//! allocator's worst case (many `i64` locals, all live across a loop), in
//! the shape `host/tests/api/uploads.rs` builds them, written byte by byte
//! so the harness needs no assembler. Each exports `on-event` with the
//! wrong type, which only a finished compile would find, so even a bomb
//! the server admits and compiles is refused in the end.
//!
//! The server reads an upload with wasmparser before compiling it and
//! refuses one over its bounds with a 422 naming the bound; the bounds
//! below mirror `host/src/runtime/precheck.rs` (the harness does not link
//! the host crate).

/// The server's bound on one function's locals (`MAX_LOCALS` in the
/// host's precheck); a bomb over it is refused with `too_many_locals`.
pub const MAX_LOCALS: usize = 1_024;

/// The server's bound on one function body's bytes (`MAX_FUNCTION_BYTES`
/// in the host's precheck); a bomb over it is refused with
/// `function_too_large`.
pub const MAX_FUNCTION_BYTES: usize = 256 << 10;

/// One bomb to upload and the answers the server may give it.
pub struct Bomb {
    /// What it is, for the report.
    pub name: &'static str,
    /// The component's bytes.
    pub bytes: Vec<u8>,
    /// The 422 codes that refuse it (429 `upload_rate` or `compile_busy`
    /// is always also an acceptable answer).
    pub codes: &'static [&'static str],
}

/// The bombs the bounds refuse before compiling: twice the locals, and
/// the 452 KB function.
pub fn refused() -> Vec<Bomb> {
    vec![
        Bomb {
            name: "2,048 locals",
            bytes: locals_bomb(2 * MAX_LOCALS, 2),
            codes: &["too_many_locals"],
        },
        Bomb {
            name: "a 452 KB function",
            bytes: locals_bomb(MAX_LOCALS, 50),
            codes: &["function_too_large"],
        },
    ]
}

/// The costliest function the bounds admit: the most locals, in as many
/// rounds as fit in the function size bound. The server compiles it in
/// its CPU-limited worker: refused with `compile_limit` when the limit
/// stops it, or `contract_mismatch` when the compile finishes.
pub fn admitted() -> Bomb {
    let round = locals_bomb(MAX_LOCALS, 2).len() - locals_bomb(MAX_LOCALS, 1).len();
    let rounds = (MAX_FUNCTION_BYTES - 64) / round;
    Bomb {
        name: "the worst function the bounds admit",
        bytes: locals_bomb(MAX_LOCALS, rounds),
        codes: &["compile_limit", "contract_mismatch", "compile_failed"],
    }
}

/// A component whose one core function declares `locals` `i64` locals and
/// loops over `rounds` rounds of multiplying each by another.
pub fn locals_bomb(locals: usize, rounds: usize) -> Vec<u8> {
    let mut body = vec![1];
    body.extend(leb(locals));
    body.push(0x7e); // i64
    body.extend([0x03, 0x40]); // loop
    for round in 0..rounds {
        for i in 0..locals {
            let j = (i * 7 + round + 1) % locals;
            body.push(0x20); // local.get i
            body.extend(leb(i));
            body.push(0x20); // local.get j
            body.extend(leb(j));
            body.push(0x7e); // i64.mul
            body.push(0x21); // local.set i
            body.extend(leb(i));
        }
    }
    // i32.load (i32.const 0); br_if 0; end (loop); end (function)
    body.extend([0x41, 0x00, 0x28, 0x02, 0x00, 0x0d, 0x00, 0x0b, 0x0b]);
    let mut code = vec![1];
    code.extend(leb(body.len()));
    code.extend(body);
    let mut module = b"\0asm\x01\x00\x00\x00".to_vec();
    module.extend(section(1, &[1, 0x60, 0, 0])); // type 0: () -> ()
    module.extend(section(3, &[1, 0])); // one function of type 0
    module.extend(section(5, &[1, 0, 1])); // one page of memory
    module.extend(section(7, &[1, 1, b'f', 0, 0])); // export "f" = func 0
    module.extend(section(10, &code));
    let mut component = b"\0asm\x0d\x00\x01\x00".to_vec();
    component.extend(section(1, &module));
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

fn section(id: u8, contents: &[u8]) -> Vec<u8> {
    let mut bytes = vec![id];
    bytes.extend(leb(contents.len()));
    bytes.extend(contents);
    bytes
}

fn leb(mut value: usize) -> Vec<u8> {
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

    #[test]
    fn bombs_are_components_of_the_promised_sizes() {
        for bomb in refused().into_iter().chain([admitted()]) {
            assert_eq!(&bomb.bytes[..8], b"\0asm\x0d\x00\x01\x00", "{}", bomb.name);
        }
        let [locals, large] = refused().try_into().ok().unwrap();
        // 2,048 locals is over the bound, the body under the size bound.
        assert!(
            locals.bytes.len() < MAX_FUNCTION_BYTES,
            "{}",
            locals.bytes.len()
        );
        assert!(large.bytes.len() > 450_000, "{}", large.bytes.len());
        // The admitted one nearly fills the function size bound.
        let admitted = admitted().bytes.len();
        assert!(
            (MAX_FUNCTION_BYTES * 9 / 10..MAX_FUNCTION_BYTES).contains(&admitted),
            "{admitted}"
        );
    }
}
