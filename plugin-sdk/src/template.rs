//! `{field}` templates for SMS texts, filled from a record's fields.
//!
//! ```
//! use smstrigger_sdk::{template, testing};
//!
//! let mut record = testing::record(7, "+36301234567");
//! record.fields.push(("first_name".into(), "Anna".into()));
//! let text = template::fill("Hello {first_name}, when may we call? {{reply}}", &record);
//! assert_eq!(text.unwrap(), "Hello Anna, when may we call? {reply}");
//! assert!(template::fill("Hi {nickname}", &record).is_err());
//! ```
//!
//! A rule should not send "Hello , ..." to a customer: a name the record has
//! no field for is an error naming it, as is an unclosed `{`. `{{` and `}}`
//! write a literal brace.

use crate::model::ContactRecord;

/// `template` with each `{name}` replaced by the value of `record`'s field
/// `name`; an error names a field the record lacks or a brace left open.
pub fn fill(template: &str, record: &ContactRecord) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let brace = &rest[at..at + 1];
        let after = &rest[at + 1..];
        if after.starts_with(brace) {
            out.push_str(brace);
            rest = &after[1..];
            continue;
        }
        if brace == "}" {
            return Err(format!("unmatched `}}` in template {template:?}"));
        }
        let Some(end) = after.find('}') else {
            return Err(format!("unclosed `{{` in template {template:?}"));
        };
        let name = after[..end].trim();
        let value = record
            .fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value)
            .ok_or_else(|| format!("record {} has no field `{name}`", record.id))?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::record;

    fn with_fields(fields: &[(&str, &str)]) -> ContactRecord {
        let mut contact = record(3, "+36301234567");
        contact.fields = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        contact
    }

    #[test]
    fn fields_are_filled_and_doubled_braces_are_literal() {
        let contact = with_fields(&[("name", "Béla"), ("due", "2026-12-24")]);
        assert_eq!(
            fill("{name}: pay by { due }. Reply {{DATE}}", &contact).unwrap(),
            "Béla: pay by 2026-12-24. Reply {DATE}"
        );
        assert_eq!(fill("no fields", &contact).unwrap(), "no fields");
        assert_eq!(fill("", &contact).unwrap(), "");
    }

    #[test]
    fn a_missing_field_or_a_stray_brace_is_an_error() {
        let contact = with_fields(&[("name", "Béla")]);
        assert!(fill("Hi {nick}", &contact).unwrap_err().contains("`nick`"));
        assert!(fill("Hi {name", &contact).unwrap_err().contains("unclosed"));
        assert!(
            fill("Hi name}", &contact)
                .unwrap_err()
                .contains("unmatched")
        );
    }
}
