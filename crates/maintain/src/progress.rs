//! A progress bar for long rewrites on a terminal; elsewhere (logs, pipes) a line every 5 s.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RewriteProgress {
    table: String,
    total: usize,
    started: Instant,
    last: Instant,
    terminal: bool,
}

impl RewriteProgress {
    pub fn new(table: &str, total: usize) -> Self {
        let now = Instant::now();
        Self {
            table: table.to_owned(),
            total,
            started: now,
            last: now,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// `done` groups of `total` rewritten, `bytes` of input read so far.
    pub fn update(&mut self, done: usize, bytes: u64, partition: &str) {
        let finished = done == self.total;
        let every = if self.terminal { Duration::from_millis(200) } else { Duration::from_secs(5) };
        if self.last.elapsed() < every && !finished {
            return;
        }
        self.last = Instant::now();
        let secs = self.started.elapsed().as_secs_f64();
        if self.terminal {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r{}", bar(&self.table, done, self.total, bytes, secs));
            if finished {
                let _ = writeln!(stderr);
            }
            let _ = stderr.flush();
        } else {
            tracing::info!(
                table = %self.table,
                groups = format!("{done}/{}", self.total),
                partition,
                input_bytes = bytes,
                mb_per_s = format!("{:.1}", bytes as f64 / 1e6 / secs.max(1e-3)),
                "rewriting"
            );
        }
    }
}

/// `  db.t [##########----------]  5/10 groups   52.4 MB  13.1 MB/s`
fn bar(table: &str, done: usize, total: usize, bytes: u64, secs: f64) -> String {
    const WIDTH: usize = 30;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    format!(
        "  {table} [{}{}] {done:>width$}/{total} groups {:>9.1} MB {:>7.1} MB/s",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs.max(1e-3),
        width = total.to_string().len(),
    )
}

#[cfg(test)]
mod tests {
    use super::bar;

    #[test]
    fn the_bar_fills_with_the_groups_done() {
        assert_eq!(
            bar("db.t", 5, 10, 52_400_000, 4.0),
            "  db.t [###############---------------]  5/10 groups      52.4 MB    13.1 MB/s"
        );
        assert!(bar("db.t", 10, 10, 0, 1.0).contains(&"#".repeat(30)));
    }
}
