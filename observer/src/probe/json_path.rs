//! `json=PATH=VALUE`: a value in a JSON answer, found by dotted keys and
//! array indices (`status`, `checks[0].state`, `data.items.2.name`), and the
//! rule for when it equals what the operator wrote.

use std::fmt;

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    steps: Vec<Step>,
}

/// `json=PATH=VALUE`: the value at PATH must equal VALUE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonCheck {
    pub path: JsonPath,
    pub expected: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonPathError {
    #[error("json= needs PATH=VALUE (got {0:?})")]
    NoValue(String),
    #[error("empty step in JSON path {0:?}")]
    EmptyStep(String),
    #[error("bad array index in JSON path {0:?}: expected [NUMBER]")]
    BadIndex(String),
}

impl JsonCheck {
    /// The text after `json=`: `PATH=VALUE`, split at the first `=`.
    pub fn parse(text: &str) -> Result<JsonCheck, JsonPathError> {
        let (path, expected) = text
            .split_once('=')
            .ok_or_else(|| JsonPathError::NoValue(text.to_string()))?;
        Ok(JsonCheck {
            path: JsonPath::parse(path)?,
            expected: expected.to_string(),
        })
    }
}

impl JsonPath {
    pub fn parse(text: &str) -> Result<JsonPath, JsonPathError> {
        let mut steps = Vec::new();
        for part in text.split('.') {
            let (key, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if key.is_empty() && rest.is_empty() {
                return Err(JsonPathError::EmptyStep(text.to_string()));
            }
            if !key.is_empty() {
                // A bare number between dots indexes an array (`items.2`);
                // on an object it is looked up as a key instead.
                steps.push(Step::Key(key.to_string()));
            }
            while !rest.is_empty() {
                let close = rest
                    .find(']')
                    .filter(|_| rest.starts_with('['))
                    .ok_or_else(|| JsonPathError::BadIndex(text.to_string()))?;
                let index = rest[1..close]
                    .parse()
                    .map_err(|_| JsonPathError::BadIndex(text.to_string()))?;
                steps.push(Step::Index(index));
                rest = &rest[close + 1..];
            }
        }
        Ok(JsonPath {
            text: text.to_string(),
            steps,
        })
    }

    /// The value at this path, if there is one.
    pub fn find<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        let mut at = root;
        for step in &self.steps {
            at = match (step, at) {
                (Step::Key(k), Value::Object(map)) => map.get(k)?,
                (Step::Key(k), Value::Array(items)) => items.get(k.parse::<usize>().ok()?)?,
                (Step::Index(i), Value::Array(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(at)
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Whether `found` equals what the operator wrote: a JSON string equals its
/// text (`json=status=ok`); otherwise `expected` is read as JSON, numbers
/// comparing by value (`json=count=3` matches `3` and `3.0`,
/// `json=up=true` matches `true`).
pub fn matches(found: &Value, expected: &str) -> bool {
    if let Value::String(s) = found
        && s == expected
    {
        return true;
    }
    match serde_json::from_str::<Value>(expected) {
        Ok(Value::Number(want)) => match found {
            Value::Number(got) => got.as_f64() == want.as_f64(),
            _ => false,
        },
        Ok(want) => &want == found,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn find(path: &str, v: &Value) -> Option<Value> {
        JsonPath::parse(path).unwrap().find(v).cloned()
    }

    #[test]
    fn dotted_keys_and_indices_find_values() {
        let v = json!({"status": "ok", "checks": [{"state": "up"}, {"state": "down"}],
                       "data": {"items": [[1, 2], [3, 4]]}, "0": "zero"});
        assert_eq!(find("status", &v), Some(json!("ok")));
        assert_eq!(find("checks[1].state", &v), Some(json!("down")));
        assert_eq!(find("checks.0.state", &v), Some(json!("up")));
        assert_eq!(find("data.items[1][0]", &v), Some(json!(3)));
        assert_eq!(find("0", &v), Some(json!("zero")));
        assert_eq!(find("checks[2].state", &v), None);
        assert_eq!(find("status.deeper", &v), None);
        assert_eq!(
            JsonPath::parse("[1]").unwrap().find(&json!([5, 6])),
            Some(&json!(6))
        );
    }

    #[test]
    fn bad_paths_are_refused() {
        assert!(matches!(
            JsonPath::parse("a..b"),
            Err(JsonPathError::EmptyStep(_))
        ));
        assert!(matches!(
            JsonPath::parse("a[x]"),
            Err(JsonPathError::BadIndex(_))
        ));
        assert!(matches!(
            JsonPath::parse("a[1"),
            Err(JsonPathError::BadIndex(_))
        ));
        assert!(matches!(
            JsonCheck::parse("status"),
            Err(JsonPathError::NoValue(_))
        ));
        let check = JsonCheck::parse("a.b=x=y").unwrap();
        assert_eq!(check.path.to_string(), "a.b");
        assert_eq!(check.expected, "x=y");
    }

    #[test]
    fn values_compare_as_an_operator_expects() {
        assert!(matches(&json!("ok"), "ok"));
        assert!(matches(&json!("ok"), "\"ok\""));
        assert!(!matches(&json!("ok"), "okay"));
        assert!(matches(&json!(3), "3"));
        assert!(matches(&json!(3.0), "3"));
        assert!(!matches(&json!(3), "4"));
        assert!(matches(&json!("3"), "3"));
        assert!(matches(&json!(true), "true"));
        assert!(!matches(&json!(true), "false"));
        assert!(matches(&json!(null), "null"));
        assert!(!matches(&json!({"a": 1}), "a"));
    }
}
