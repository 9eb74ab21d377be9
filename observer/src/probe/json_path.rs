//! `json=PATH=VALUE`: a value in a JSON answer, found by dotted keys and
//! array indices (`status`, `checks[0].state`, `data.items.2.name`; the
//! path is parsed in `conf`), and the rule for when it equals what the
//! operator wrote.

use serde_json::Value;

pub use conf::{JsonCheck, JsonPath, JsonPathError, JsonStep};

/// The value at `path` in `root`, if there is one.
pub fn find<'a>(path: &JsonPath, root: &'a Value) -> Option<&'a Value> {
    let mut at = root;
    for step in path.steps() {
        at = match (step, at) {
            (JsonStep::Key(k), Value::Object(map)) => map.get(k)?,
            (JsonStep::Key(k), Value::Array(items)) => items.get(k.parse::<usize>().ok()?)?,
            (JsonStep::Index(i), Value::Array(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(at)
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
        super::find(&JsonPath::parse(path).unwrap(), v).cloned()
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
            super::find(&JsonPath::parse("[1]").unwrap(), &json!([5, 6])),
            Some(&json!(6))
        );
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
