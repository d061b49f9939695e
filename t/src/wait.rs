//! Waiting on a condition with a deadline, the only way these tests wait:
//! never a fixed sleep in the hope that something has happened by then.

use std::time::{Duration, Instant};

/// Polls `probe` until it returns `Some`, or panics after `deadline` naming
/// `what` was awaited. The pause between polls grows from 2 ms to 50 ms, so
/// quick conditions are seen quickly and slow ones do not spin a core.
pub fn wait_until<T>(what: &str, deadline: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    match try_wait_until(deadline, &mut probe) {
        Some(v) => v,
        None => panic!("timed out after {deadline:?} waiting for {what}"),
    }
}

/// Like [`wait_until`] but returns `None` on timeout, for callers that want
/// to report the failure with their own context.
pub fn try_wait_until<T>(deadline: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        let elapsed = start.elapsed();
        if elapsed >= deadline {
            // One last look, so a condition met during the final pause counts.
            return probe();
        }
        std::thread::sleep(pause.min(deadline - elapsed));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_value_once_condition_holds() {
        let mut n = 0;
        let v = wait_until("counter to reach 3", Duration::from_secs(5), || {
            n += 1;
            (n >= 3).then_some(n)
        });
        assert_eq!(v, 3);
    }

    #[test]
    fn gives_up_at_the_deadline() {
        let start = Instant::now();
        let r: Option<()> = try_wait_until(Duration::from_millis(30), || None);
        assert!(r.is_none());
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
