//! A strict reader of the Prometheus text exposition format (version 0.0.4), for the metrics
//! tests: it refuses what the format forbids and, stricter than Prometheus's own reader, what a
//! well-made exporter never writes (a family without `# TYPE`, a family's samples split up, a
//! counter whose name lacks `_total`).
//!
//! The rules, from the format's description and the OpenMetrics text it grew into:
//! 1. Lines end in `\n`, the last one included; `#` lines are `# HELP name text`, `# TYPE name
//!    type` or comments; empty lines are ignored.
//! 2. Metric names match `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names `[a-zA-Z_][a-zA-Z0-9_]*` and do
//!    not start with `__`; a label value is a quoted string whose only escapes are `\\`, `\"` and
//!    `\n`; no label appears twice in a sample.
//! 3. A value is a float (`NaN`, `+Inf`, `-Inf` included); an optional timestamp is an integer.
//! 4. `# HELP` and `# TYPE` appear at most once per family and before its samples; the type is
//!    `counter`, `gauge`, `histogram`, `summary` or `untyped`.
//! 5. A family's samples are contiguous, and no series (name and label set) appears twice.
//! 6. A counter's samples are named as the family, end in `_total` and are not negative.
//! 7. A histogram's samples are `name_bucket` with an `le` label, `name_sum` and `name_count`;
//!    per label set, `le` bounds increase to a last `+Inf`, counts never decrease, and the `+Inf`
//!    count equals `_count`.

use std::collections::{BTreeMap, HashSet};

/// One sample: its name, labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A metric family: its name, type, help and samples in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub kind: String,
    pub help: String,
    pub samples: Vec<Sample>,
}

/// A parsed exposition.
#[derive(Debug)]
pub struct Exposition {
    pub families: Vec<Family>,
}

impl Exposition {
    /// The value of the series `name{labels}`; panics if there is none.
    #[track_caller]
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.families
            .iter()
            .flat_map(|f| &f.samples)
            .find(|s| s.name == name && s.labels == want)
            .unwrap_or_else(|| panic!("no series {name}{labels:?}"))
            .value
    }

    /// Every sample of the family `name`.
    #[track_caller]
    pub fn family(&self, name: &str) -> &Family {
        self.families
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no family {name}"))
    }
}

/// Parses `text`, checking every rule above; the error names the line and the rule broken.
pub fn parse(text: &str) -> Result<Exposition, String> {
    if !text.ends_with('\n') {
        return Err("rule 1: the last line does not end in \\n".into());
    }
    let mut families: Vec<Family> = Vec::new();
    let mut helped: HashSet<String> = HashSet::new();
    let mut typed: HashSet<String> = HashSet::new();
    let mut series: HashSet<String> = HashSet::new();
    for (i, line) in text[..text.len() - 1].split('\n').enumerate() {
        let at = |why: String| format!("line {}: {why}: {line:?}", i + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.trim_start_matches(' ').splitn(3, ' ');
            let keyword = words.next().unwrap_or("");
            if keyword != "HELP" && keyword != "TYPE" {
                continue;
            }
            let name = words.next().unwrap_or("");
            let rest = words.next().unwrap_or("");
            if !is_metric_name(name) {
                return Err(at("rule 2: bad metric name".into()));
            }
            let family = match families.last_mut() {
                Some(f) if f.name == name => f,
                _ => {
                    if families.iter().any(|f| f.name == name) {
                        return Err(at("rule 5: the family was already closed".into()));
                    }
                    families.push(Family {
                        name: name.to_string(),
                        kind: "untyped".into(),
                        help: String::new(),
                        samples: Vec::new(),
                    });
                    families.last_mut().unwrap()
                }
            };
            if !family.samples.is_empty() {
                return Err(at(format!(
                    "rule 4: # {keyword} after the family's samples"
                )));
            }
            if keyword == "HELP" {
                if !helped.insert(name.to_string()) {
                    return Err(at("rule 4: a second # HELP".into()));
                }
                family.help = unescape_help(rest).map_err(|e| at(format!("rule 1: {e}")))?;
            } else {
                if !typed.insert(name.to_string()) {
                    return Err(at("rule 4: a second # TYPE".into()));
                }
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&rest) {
                    return Err(at("rule 4: unknown type".into()));
                }
                family.kind = rest.to_string();
            }
            continue;
        }
        let sample = parse_sample(line).map_err(at)?;
        let family = families
            .last_mut()
            .filter(|f| belongs(&sample.name, f))
            .ok_or_else(|| {
                at(format!(
                    "rule 5 (and this reader's own: every family has # TYPE first): sample \
                     {} outside its family",
                    sample.name
                ))
            })?;
        if !typed.contains(&family.name) {
            return Err(at("this reader's rule: a family without # TYPE".into()));
        }
        let key = format!("{}{:?}", sample.name, sample.labels);
        if !series.insert(key) {
            return Err(at("rule 5: the series appears twice".into()));
        }
        family.samples.push(sample);
    }
    for family in &families {
        check_family(family)?;
    }
    Ok(Exposition { families })
}

/// Whether a sample named `name` belongs to `family`, by its type.
fn belongs(name: &str, family: &Family) -> bool {
    match family.kind.as_str() {
        "histogram" => [
            format!("{}_bucket", family.name),
            format!("{}_sum", family.name),
            format!("{}_count", family.name),
        ]
        .contains(&name.to_string()),
        "summary" => [
            family.name.clone(),
            format!("{}_sum", family.name),
            format!("{}_count", family.name),
        ]
        .contains(&name.to_string()),
        _ => name == family.name,
    }
}

/// Rules 6 and 7 over a whole family.
fn check_family(family: &Family) -> Result<(), String> {
    let name = &family.name;
    match family.kind.as_str() {
        "counter" => {
            if !name.ends_with("_total") {
                return Err(format!("rule 6: counter {name} does not end in _total"));
            }
            if let Some(s) = family
                .samples
                .iter()
                .find(|s| s.value.is_nan() || s.value < 0.0)
            {
                return Err(format!("rule 6: counter sample {s:?} is negative"));
            }
        }
        "histogram" => {
            let mut groups: BTreeMap<Vec<(String, String)>, Vec<&Sample>> = BTreeMap::new();
            for s in &family.samples {
                let key = s
                    .labels
                    .iter()
                    .filter(|(k, _)| *k != "le")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                groups.entry(key).or_default().push(s);
            }
            for (labels, samples) in groups {
                let buckets: Vec<&&Sample> = samples
                    .iter()
                    .filter(|s| s.name == format!("{name}_bucket"))
                    .collect();
                let mut previous = (f64::NEG_INFINITY, 0.0);
                for b in &buckets {
                    let le = b
                        .labels
                        .get("le")
                        .ok_or_else(|| format!("rule 7: bucket without le in {name}"))?;
                    let bound = parse_value(le).map_err(|e| format!("rule 7: le {e}"))?;
                    if bound <= previous.0 || b.value < previous.1 {
                        return Err(format!(
                            "rule 7: {name}{labels:?}: le {le} after {}, count {} after {}",
                            previous.0, b.value, previous.1
                        ));
                    }
                    previous = (bound, b.value);
                }
                if previous.0 != f64::INFINITY {
                    return Err(format!("rule 7: {name}{labels:?} has no +Inf bucket"));
                }
                let single = |suffix: &str| {
                    let found: Vec<f64> = samples
                        .iter()
                        .filter(|s| s.name == format!("{name}{suffix}"))
                        .map(|s| s.value)
                        .collect();
                    match found[..] {
                        [v] => Ok(v),
                        _ => Err(format!("rule 7: {name}{labels:?} needs one {suffix}")),
                    }
                };
                let count = single("_count")?;
                single("_sum")?;
                if count != previous.1 {
                    return Err(format!(
                        "rule 7: {name}{labels:?}: _count {count} differs from +Inf {}",
                        previous.1
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// One sample line (rules 2 and 3).
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("rule 3: no value")?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err("rule 2: bad metric name".into());
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=').ok_or("rule 2: a label without =")?;
            let label = &rest[..eq];
            if !is_label_name(label) {
                return Err(format!("rule 2: bad label name {label:?}"));
            }
            let (value, after) = quoted(&rest[eq + 1..])?;
            if labels.insert(label.to_string(), value).is_some() {
                return Err(format!("rule 2: label {label} twice"));
            }
            rest = match after.strip_prefix(',') {
                Some(after) => after,
                None if after.starts_with('}') => after,
                None => return Err("rule 2: labels not separated by ,".into()),
            };
        }
    }
    let rest = rest
        .strip_prefix(' ')
        .ok_or("rule 3: no space before the value")?;
    let mut fields = rest.split(' ');
    let value = parse_value(fields.next().unwrap_or(""))?;
    if let Some(timestamp) = fields.next() {
        timestamp
            .parse::<i64>()
            .map_err(|_| format!("rule 3: bad timestamp {timestamp:?}"))?;
    }
    if fields.next().is_some() {
        return Err("rule 3: more than a value and a timestamp".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// A quoted label value and what follows it (rule 2's escapes).
fn quoted(text: &str) -> Result<(String, &str), String> {
    let body = text
        .strip_prefix('"')
        .ok_or("rule 2: unquoted label value")?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &body[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, 'n')) => value.push('\n'),
                other => return Err(format!("rule 2: bad escape {other:?}")),
            },
            '\n' => return Err("rule 2: a raw newline in a label value".into()),
            c => value.push(c),
        }
    }
    Err("rule 2: unterminated label value".into())
}

/// A `# HELP` text: `\\` and `\n` are its only escapes.
fn unescape_help(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                other => return Err(format!("bad escape in HELP: {other:?}")),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// A sample value (rule 3).
fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ if text
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
            && !text.is_empty() =>
        {
            text.parse()
                .map_err(|_| format!("rule 3: bad value {text:?}"))
        }
        _ => Err(format!("rule 3: bad value {text:?}")),
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[test]
fn the_reader_accepts_a_well_formed_exposition() {
    let text = "# HELP a_total A \\\\ counter.\\nSecond line.\n# TYPE a_total counter\n\
                a_total{x=\"q\\\"uote\\\\\",y=\"\\n\"} 3\na_total{x=\"2\"} 0 1700000000000\n\n\
                # some comment\n# TYPE g gauge\ng -1.5e3\n# TYPE h histogram\n\
                h_bucket{le=\"0.5\"} 1\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 2\n\
                h_sum 1.25\nh_count 2\n";
    let parsed = parse(text).unwrap();
    assert_eq!(parsed.families.len(), 3);
    assert_eq!(parsed.family("a_total").help, "A \\ counter.\nSecond line.");
    assert_eq!(
        parsed.value("a_total", &[("x", "q\"uote\\"), ("y", "\n")]),
        3.0
    );
    assert_eq!(parsed.value("g", &[]), -1500.0);
    assert_eq!(parsed.value("h_count", &[]), 2.0);
}

#[test]
fn the_reader_refuses_what_the_format_forbids() {
    let good_histogram =
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n";
    assert!(parse(good_histogram).is_ok());
    // (text, the rule it breaks)
    let cases = [
        ("# TYPE a_total counter\na_total 1", "rule 1"),
        ("# TYPE 1a gauge\n1a 1\n", "rule 2"),
        ("# TYPE a gauge\na{b=c} 1\n", "rule 2"),
        ("# TYPE a gauge\na{__b=\"c\"} 1\n", "rule 2"),
        ("# TYPE a gauge\na{b=\"\\t\"} 1\n", "rule 2"),
        ("# TYPE a gauge\na{b=\"1\",b=\"2\"} 1\n", "rule 2"),
        ("# TYPE a gauge\na{b=\"1\" c=\"2\"} 1\n", "rule 2"),
        ("# TYPE a gauge\na one\n", "rule 3"),
        ("# TYPE a gauge\na 1 2 3\n", "rule 3"),
        ("# TYPE a gauge\na  1\n", "rule 3"),
        ("# TYPE a gauge\na 1\n# TYPE a gauge\n", "rule 4"),
        ("# TYPE a gauge\n# TYPE a counter\na 1\n", "rule 4"),
        ("# TYPE a gauge\na 1\n# HELP a late\n", "rule 4"),
        ("# TYPE a nonsense\na 1\n", "rule 4"),
        (
            "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x=\"1\"} 2\n",
            "rule 5",
        ),
        ("# TYPE a gauge\na 1\na 2\n", "rule 5"),
        ("# TYPE a counter\na 1\n", "rule 6"),
        ("# TYPE a_total counter\na_total -1\n", "rule 6"),
        ("a 1\n", "every family has # TYPE"),
        (
            "# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
            "rule 7",
        ),
        (
            "# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n",
            "rule 7",
        ),
        (
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 3\nh_count 1\n",
            "rule 7",
        ),
        (
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 5\n",
            "rule 7",
        ),
        (
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n",
            "rule 7",
        ),
    ];
    for (text, rule) in cases {
        match parse(text) {
            Ok(parsed) => panic!("accepted {text:?}: {parsed:?}"),
            Err(e) => assert!(e.contains(rule), "{text:?}: {e} (wanted {rule})"),
        }
    }
}
