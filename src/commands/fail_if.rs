//! `--fail-if FILTER` of `clusters` and `hosts`: exit 1 when any row matches, so a cron job
//! or a monitor can alert (`hosts --fail-if state=boot-loop`,
//! `clusters --fail-if 'age_hours<24,hosts>=10'`: a cluster younger than a day on ten hosts).
//!
//! Syntax: conditions joined by `,`, all of which must hold for a row to match; a condition
//! is `FIELD OP VALUE` with OP one of `>=` `<=` `!=` `=` `>` `<`. Numbers compare as
//! numbers; text compares ignoring case (only `=` and `!=`); a list field (a host's
//! clusters) matches `=` when any element is equal. The fields are the command's (see its
//! `--help`); an unknown field is a usage error naming the known ones.

/// A comparison operator of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Ge,
    Le,
    Gt,
    Lt,
}

/// One `FIELD OP VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: String,
    pub op: Op,
    pub value: String,
}

/// A parsed `--fail-if` filter: every condition must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct FailIf {
    pub conditions: Vec<Condition>,
}

/// A row's value of a field.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Num(f64),
    Text(String),
    List(Vec<String>),
}

/// Parses `FILTER` (the clap value parser of `--fail-if`).
pub fn parse(text: &str) -> Result<FailIf, String> {
    let mut conditions = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        // Two-character operators first, so `>=` is not read as `>` and `=...`.
        let found = ["!=", ">=", "<=", "=", ">", "<"]
            .iter()
            .filter_map(|op| part.find(op).map(|at| (at, *op)))
            .min_by_key(|(at, op)| (*at, std::cmp::Reverse(op.len())));
        let Some((at, op_text)) = found else {
            return Err(format!(
                "'{part}': a condition is FIELD OP VALUE with OP one of = != >= <= > <"
            ));
        };
        let field = part[..at].trim().to_ascii_lowercase();
        let value = part[at + op_text.len()..].trim().to_string();
        if field.is_empty() || value.is_empty() {
            return Err(format!("'{part}': a condition needs a field and a value"));
        }
        let op = match op_text {
            "=" => Op::Eq,
            "!=" => Op::Ne,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            ">" => Op::Gt,
            _ => Op::Lt,
        };
        conditions.push(Condition { field, op, value });
    }
    if conditions.is_empty() {
        return Err("an empty filter: e.g. state=boot-loop or hosts>=10".into());
    }
    Ok(FailIf { conditions })
}

impl FailIf {
    /// The fields the filter names that `known` lacks: a usage error before any row is
    /// judged (a misspelt field must not silently never match).
    pub fn check_fields(&self, known: &[String]) -> Result<(), String> {
        for c in &self.conditions {
            if !known.iter().any(|k| k.eq_ignore_ascii_case(&c.field)) {
                return Err(format!(
                    "--fail-if: unknown field '{}'; fields: {}",
                    c.field,
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Whether a row whose fields `lookup` gives matches every condition; a numeric
    /// comparison against a value that is not a number is an error.
    pub fn matches(&self, lookup: impl Fn(&str) -> Option<Value>) -> Result<bool, String> {
        for c in &self.conditions {
            let Some(value) = lookup(&c.field) else {
                return Ok(false);
            };
            if !holds(c, &value)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn holds(c: &Condition, value: &Value) -> Result<bool, String> {
    match value {
        Value::Num(x) => {
            let want: f64 =
                c.value.trim_end_matches('%').parse().map_err(|_| {
                    format!("--fail-if: {} is a number, not '{}'", c.field, c.value)
                })?;
            let want = if c.value.ends_with('%') {
                want / 100.0
            } else {
                want
            };
            Ok(match c.op {
                Op::Eq => *x == want,
                Op::Ne => *x != want,
                Op::Ge => *x >= want,
                Op::Le => *x <= want,
                Op::Gt => *x > want,
                Op::Lt => *x < want,
            })
        }
        Value::Text(s) => text_op(c, std::slice::from_ref(s)),
        Value::List(items) => text_op(c, items),
    }
}

fn text_op(c: &Condition, items: &[String]) -> Result<bool, String> {
    let any = items.iter().any(|s| s.eq_ignore_ascii_case(&c.value));
    match c.op {
        Op::Eq => Ok(any),
        Op::Ne => Ok(!any),
        _ => Err(format!(
            "--fail-if: {} is text: compare it with = or !=",
            c.field
        )),
    }
}

/// The filter as text again (for messages).
pub fn describe(filter: &FailIf) -> String {
    filter
        .conditions
        .iter()
        .map(|c| {
            let op = match c.op {
                Op::Eq => "=",
                Op::Ne => "!=",
                Op::Ge => ">=",
                Op::Le => "<=",
                Op::Gt => ">",
                Op::Lt => "<",
            };
            format!("{}{op}{}", c.field, c.value)
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Says on stderr how many rows matched, for the log of the cron job that exits 1.
pub fn report(matched: usize, what: &str, filter: &str) {
    if matched > 0 {
        eprintln!("blastradius: --fail-if {filter}: {matched} {what} matched (exit 1)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let f = parse("state=boot-loop, crashes>=3").unwrap();
        assert_eq!(f.conditions.len(), 2);
        assert_eq!(f.conditions[1].op, Op::Ge);
        let row = |field: &str| match field {
            "state" => Some(Value::Text("boot-loop".into())),
            "crashes" => Some(Value::Num(3.0)),
            _ => None,
        };
        assert_eq!(f.matches(row), Ok(true));
        let f = parse("crashes>3").unwrap();
        assert_eq!(f.matches(row), Ok(false));
        let f = parse("fleet_share>=50%").unwrap();
        assert_eq!(f.matches(|_| Some(Value::Num(0.695))), Ok(true));
        let f = parse("clusters=csagent.sys").unwrap();
        let list = Value::List(vec!["acmenet.sys".into(), "CSAgent.sys".into()]);
        assert_eq!(f.matches(|_| Some(list.clone())), Ok(true));
    }

    #[test]
    fn bad_filters_are_usage_errors() {
        assert!(parse("").is_err());
        assert!(parse("state").is_err());
        assert!(parse("=x").is_err());
        let f = parse("stat=boot-loop").unwrap();
        assert!(f.check_fields(&["state".into()]).is_err());
        let f = parse("state>boot-loop").unwrap();
        assert!(f
            .matches(|_| Some(Value::Text("boot-loop".into())))
            .is_err());
        let f = parse("crashes>=many").unwrap();
        assert!(f.matches(|_| Some(Value::Num(1.0))).is_err());
    }
}
