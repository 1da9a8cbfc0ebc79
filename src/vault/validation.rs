//! What a new key must look like: API key and secret 10–256 printable ASCII
//! characters without whitespace; a label of at most 64 characters (optional).

use crate::errors::FieldErrors;

pub const MAX_LABEL_CHARS: usize = 64;
const KEY_CHARS: std::ops::RangeInclusive<usize> = 10..=256;

pub struct NewKeyInput {
    pub label: String,
    pub api_key: String,
    pub secret_key: String,
}

/// The trimmed label, or the field errors of the whole input.
pub fn validate(input: &NewKeyInput) -> Result<String, FieldErrors> {
    let mut errors = FieldErrors::default();
    let label = input.label.trim().to_owned();
    if label.chars().count() > MAX_LABEL_CHARS {
        errors.add("label", format!("Use at most {MAX_LABEL_CHARS} characters."));
    } else if label.chars().any(char::is_control) {
        errors.add("label", "The label cannot contain control characters.");
    }
    for (field, value, name) in
        [("api_key", &input.api_key, "The API key"), ("secret_key", &input.secret_key, "The secret key")]
    {
        if let Some(problem) = key_problem(value) {
            errors.add(field, format!("{name} {problem}"));
        }
    }
    if errors.is_empty() { Ok(label) } else { Err(errors) }
}

fn key_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return Some("is required.");
    }
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Some("must be printable ASCII characters without spaces.");
    }
    if !KEY_CHARS.contains(&value.len()) {
        return Some("must be 10 to 256 characters long.");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(label: &str, api_key: &str, secret_key: &str) -> NewKeyInput {
        NewKeyInput { label: label.into(), api_key: api_key.into(), secret_key: secret_key.into() }
    }

    #[test]
    fn a_normal_key_passes_with_its_label_trimmed() {
        assert_eq!(validate(&input("  bot 1 ", "abcdefghij", "0123456789")).unwrap(), "bot 1");
    }

    #[test]
    fn each_rule_is_reported_on_its_field() {
        let errors = validate(&input(&"x".repeat(65), "short", "with space inside")).unwrap_err();
        assert!(errors.get("label").unwrap().contains("64"));
        assert!(errors.get("api_key").unwrap().contains("10 to 256"));
        assert!(errors.get("secret_key").unwrap().contains("without spaces"));
        let errors = validate(&input("", &"a".repeat(257), "é123456789")).unwrap_err();
        assert!(errors.get("api_key").unwrap().contains("10 to 256"));
        assert!(errors.get("secret_key").unwrap().contains("ASCII"));
        assert!(errors.get("label").is_none(), "a label is optional");
    }
}
