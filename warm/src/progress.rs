//! The progress line drawn on stderr when it is a terminal: a bar, the
//! count, the running totals and the rate, redrawn in place with `\r`.
//! Off a terminal nothing is drawn, so logs and pipes get only the failure
//! lines and the summary.

use std::time::Duration;

use crate::summary::Tally;

/// Cells in the bar; the whole line stays under 80 columns for totals
/// below a million, since the terminal's width is not known without libc.
const WIDTH: usize = 24;

/// One frame of the progress line, without the leading `\r`.
pub fn render(tally: &Tally, total: u64, elapsed: Duration) -> String {
    let done = tally.done();
    let filled = if total == 0 {
        WIDTH
    } else {
        (done.min(total) as u128 * WIDTH as u128 / total as u128) as usize
    };
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    format!(
        "[{}{}] {done}/{total} made {} cached {} failed {} {rate:.1}/s",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled),
        tally.made,
        tally.cached,
        tally.failed(),
    )
}

/// Moves to the start of the line and clears it (before a failure line or
/// the summary, so they do not land in the middle of the bar).
pub const CLEAR: &str = "\r\x1b[K";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::Outcome;

    #[test]
    fn draws_the_bar_in_proportion() {
        let mut t = Tally::default();
        assert_eq!(
            render(&t, 4, Duration::ZERO),
            "[------------------------] 0/4 made 0 cached 0 failed 0 0.0/s"
        );
        t.add(&Outcome::Made);
        t.add(&Outcome::Status(404));
        assert_eq!(
            render(&t, 4, Duration::from_secs(2)),
            "[############------------] 2/4 made 1 cached 0 failed 1 1.0/s"
        );
        t.add(&Outcome::Cached);
        t.add(&Outcome::Cached);
        let line = render(&t, 4, Duration::from_secs(1));
        assert!(
            line.starts_with(&format!("[{}] 4/4", "#".repeat(WIDTH))),
            "{line}"
        );
        assert!(render(&Tally::default(), 0, Duration::ZERO).starts_with("[#"));
    }
}
