use super::*;
use std::time::Instant;

#[test]
fn javascript_probe() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../plugins-js/keyword-disposition/keyword-disposition.wasm"
    );
    let bytes = std::fs::read(path).unwrap();
    let t = Instant::now();
    let plugin = runtime().load(&bytes);
    eprintln!("load: {:?}", t.elapsed());
    let plugin = plugin.unwrap();
    let customer = record(6, "+36301234567");
    let now = local("2026-12-01 10:00");
    let sms = inbound(&[&customer], "+36301234567", "paid.", now);
    for mb in [16usize, 32, 64, 128, 256] {
        let limits = Limits {
            memory_bytes: mb << 20,
            fuel: 10_000_000_000,
            wall_deadline: std::time::Duration::from_secs(10),
            ..Limits::default()
        };
        let o = invoke_with(
            &plugin,
            &sms,
            &[("keywords", "PAID=41, CALLBACK=2@30m")],
            limits,
            vec![],
        );
        eprintln!(
            "{mb} MiB: {:?} fuel {} elapsed {:?}",
            o.result, o.fuel_used, o.elapsed
        );
    }
}
