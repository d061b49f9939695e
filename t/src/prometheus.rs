//! Reading Prometheus's text exposition format (version 0.0.4) as the
//! status page writes it, strictly enough that a malformed line fails the
//! test, and running `promtool check metrics` on it, which checks the rest
//! (families together, HELP and TYPE, naming rules).

use std::process::{Command, Stdio};

use crate::paths::notice;

/// One sample line of the text format.
#[derive(Debug)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The exposition: its samples in order, and each family's declared type.
pub struct Exposition {
    pub samples: Vec<Sample>,
    /// `# TYPE` lines: family name and type.
    pub types: Vec<(String, String)>,
    pub text: String,
}

impl Exposition {
    /// Parses the text format strictly enough to catch a malformed line;
    /// `promtool` checks the rest.
    pub fn parse(text: &str) -> Exposition {
        let mut samples = Vec::new();
        let mut types = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
                types.push((name.to_string(), kind.to_string()));
                continue;
            }
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            samples.push(parse_sample(line));
        }
        Exposition {
            samples,
            types,
            text: text.to_string(),
        }
    }

    /// The one sample of `name` whose labels include all of `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(v)))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one {name}{labels:?}, found {found:?} in:\n{}",
            self.text
        );
        found[0].value
    }
}

fn parse_sample(line: &str) -> Sample {
    let (head, value) = line.rsplit_once(' ').expect("a sample line has a value");
    let value: f64 = if value == "+Inf" {
        f64::INFINITY
    } else {
        value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"))
    };
    let Some((name, labels)) = head.split_once('{') else {
        return Sample {
            name: head.to_string(),
            labels: Vec::new(),
            value,
        };
    };
    let labels = labels.strip_suffix('}').expect("labels end with }");
    let mut parsed = Vec::new();
    let mut chars = labels.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "label value quoted in {line:?}");
        let mut val = String::new();
        loop {
            match chars.next().expect("unterminated label value") {
                '\\' => match chars.next() {
                    Some('n') => val.push('\n'),
                    Some(c) => val.push(c),
                    None => panic!("dangling escape in {line:?}"),
                },
                '"' => break,
                c => val.push(c),
            }
        }
        parsed.push((key, val));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    Sample {
        name: name.to_string(),
        labels: parsed,
        value,
    }
}

/// Runs `promtool check metrics` on `text`. None when promtool is not
/// installed (a failure under CI, since tools/deps.sh installs it).
pub fn promtool_check(text: &str) -> Option<(bool, String)> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let msg = "promtool is not installed (Debian package prometheus, see tools/deps.sh)";
            if std::env::var_os("CI").is_some() {
                panic!("{msg}; CI is set, so this is a failure, not a skip");
            }
            notice(&format!("SKIPPED the promtool check: {msg}"));
            return None;
        }
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(text.as_bytes()).expect("write to promtool");
    }
    let out = child.wait_with_output().expect("promtool runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), said))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_samples_labels_and_types() {
        let e = Exposition::parse(
            "# HELP a_total A.\n# TYPE a_total counter\n\
             a_total{zone=\"x\\\"y\",le=\"+Inf\"} 3\nb 0.25\n",
        );
        assert_eq!(e.types, [("a_total".to_string(), "counter".to_string())]);
        assert_eq!(e.value("a_total", &[("zone", "x\"y"), ("le", "+Inf")]), 3.0);
        assert_eq!(e.value("b", &[]), 0.25);
    }

    #[test]
    #[should_panic(expected = "bad value")]
    fn a_sample_without_a_number_is_an_error() {
        Exposition::parse("a_total{zone=\"x\"} three\n");
    }
}
