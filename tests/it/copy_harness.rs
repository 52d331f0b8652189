//! The emulator harness itself (common.rs): start, control endpoints, request log, Drop guard.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use crate::common::Emulator;
use serde_json::json;

#[test]
fn harness_starts_resets_and_reads_the_request_log() {
    let emu = Emulator::start();
    emu.reset();
    assert!(emu.requests().is_empty(), "a reset empties the request log");
    // One read-only call through the real binary's environment: `amishare` is not needed for
    // this; a fault on an unused action proves the control endpoint round-trips.
    let fault =
        emu.add_fault(json!({"type": "5xx", "service": "ec2", "action": "CopyImage", "count": 1}));
    assert_eq!(fault["type"], "5xx");
    emu.clear_faults();
    assert!(emu
        .live_instances(&[common::SOURCE_ACCOUNT], &[common::REGION])
        .is_empty());
    let pid = emu.pid;
    drop(emu);
    // The Drop guard killed the process and waited for it to end.
    assert!(
        !common::process_alive(pid),
        "emulator pid {pid} still alive after drop"
    );
}
