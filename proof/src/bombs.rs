//! Compile bombs: components whose one core function is the register
//! allocator's worst case (many `i64` locals, all live across a loop),
//! built by `smstrigger_test_components::bombs`, as the host's tests build
//! them. Each exports `on-event` with the wrong type, which only a
//! finished compile would find, so even a bomb the server admits and
//! compiles is refused in the end.
//!
//! The server reads an upload with wasmparser before compiling it and
//! refuses one over its bounds with a 422 naming the bound; the bounds
//! below mirror `host/src/runtime/precheck.rs` (the harness does not link
//! the host crate).

use smstrigger_test_components::bombs::{admitted_locals_bomb, locals_bomb};

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
    Bomb {
        name: "the worst function the bounds admit",
        bytes: admitted_locals_bomb(MAX_LOCALS, MAX_FUNCTION_BYTES),
        codes: &["compile_limit", "contract_mismatch", "compile_failed"],
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
