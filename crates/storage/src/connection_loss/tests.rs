use super::*;

#[test]
fn connections_released_before_a_loss_are_suspect_and_later_ones_are_not() {
    record();
    std::thread::sleep(Duration::from_millis(5));
    // Went back to the pool a second ago, before the loss.
    assert!(may_have_died(Duration::from_secs(1)));
    // Went back to the pool just now, after the loss: it was alive then.
    assert!(!may_have_died(Duration::ZERO));
    // Idle for longer than the process has run (a clock quirk): suspect, never a panic.
    assert!(may_have_died(Duration::MAX));
}
