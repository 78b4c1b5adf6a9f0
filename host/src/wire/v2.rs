//! The contact-center record API's (`/v2`) wire format, served by `api::v2`
//! and spoken by the remote executor (`actions::remote`): the wall-clock
//! format, the envelopes, the fields of a disposition request and of an
//! event-list entry.
//!
//! Success is `{"errors": [], "response": …}`; a refusal is 417 with
//! `{"errors": [{"errorcode", "errormessage", "property"}]}` (`property`
//! names the offending field, or is null). Keys serialize in alphabetical
//! order, as the API has always answered.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The wall-clock format of every `/v2` time, local to the record.
pub const V2_DATETIME: &str = "%Y-%m-%d %H:%M:%S";

/// The fields of an event-list entry (`eventid` … `description`), and
/// `recordid` on the entry a disposition added; the remote executor keeps
/// only these of a remote's answer.
pub const ENTRY_FIELDS: &[&str] = &[
    "eventid",
    "recordid",
    "eventtype",
    "userid",
    "created",
    "dispositionid",
    "next_calldate",
    "plugin",
    "pluginversion",
    "description",
];

/// One refusal: a code, a message and the offending field (or null).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorItem {
    pub errorcode: String,
    pub errormessage: String,
    pub property: Option<String>,
}

impl ErrorItem {
    /// A refusal naming no field.
    pub fn new(errorcode: &str, errormessage: impl Into<String>) -> Self {
        Self {
            errorcode: errorcode.into(),
            errormessage: errormessage.into(),
            property: None,
        }
    }
}

/// Every `/v2` answer: the errors (none on success) and, on success, the
/// response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Envelope {
    pub errors: Vec<ErrorItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

impl Envelope {
    /// `{"errors": [], "response": response}`.
    pub fn success(response: Value) -> Self {
        Self {
            errors: Vec::new(),
            response: Some(response),
        }
    }

    /// `{"errors": [error]}`.
    pub fn failure(error: ErrorItem) -> Self {
        Self {
            errors: vec![error],
            response: None,
        }
    }

    /// The `response` of `body` read as a success envelope (`errors` an
    /// empty list; a missing response reads as null), or `None`. Lenient
    /// on purpose: a remote's answer is read as far as it is `/v2`.
    pub fn success_response(body: &Value) -> Option<Value> {
        body["errors"]
            .as_array()
            .is_some_and(Vec::is_empty)
            .then(|| body["response"].clone())
    }

    /// The first error's `errorcode` and `property` in `body`, each as far
    /// as it is a string.
    pub fn first_error(body: &Value) -> (Option<String>, Option<String>) {
        let first = &body["errors"][0];
        let text = |key: &str| first[key].as_str().map(String::from);
        (text("errorcode"), text("property"))
    }
}

/// A disposition to set (`POST …/records/{r}/dispositions`), as the remote
/// executor sends it; the API reads the same fields ([`DISPOSITION_FIELDS`])
/// one by one, so each refusal can name its property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispositionRequest {
    pub description: Option<String>,
    pub dispositionid: u32,
    /// [`V2_DATETIME`] on the record's wall clock.
    pub next_calldate: Option<String>,
    pub userid: String,
}

/// The fields a disposition request may have.
pub const DISPOSITION_FIELDS: &[&str] =
    &["dispositionid", "userid", "next_calldate", "description"];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Both sides read what the other writes: the API's envelopes as the
    /// remote executor reads them.
    #[test]
    fn envelopes_read_back_as_they_were_written() {
        let ok = serde_json::to_value(Envelope::success(json!({"id": 7}))).unwrap();
        assert_eq!(ok, json!({"errors": [], "response": {"id": 7}}));
        assert_eq!(Envelope::success_response(&ok), Some(json!({"id": 7})));
        let refused = serde_json::to_value(Envelope::failure(ErrorItem {
            property: Some("dispositionid".into()),
            ..ErrorItem::new("unknown_disposition", "no 41")
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_string(&refused).unwrap(),
            r#"{"errors":[{"errorcode":"unknown_disposition","errormessage":"no 41","property":"dispositionid"}]}"#
        );
        assert_eq!(Envelope::success_response(&refused), None);
        assert_eq!(
            Envelope::first_error(&refused),
            (
                Some("unknown_disposition".into()),
                Some("dispositionid".into())
            )
        );
    }

    /// A remote's answer that is not `/v2` is not taken for a success.
    #[test]
    fn an_answer_without_an_empty_errors_list_is_no_success() {
        for body in [
            json!(null),
            json!({"response": 1}),
            json!({"errors": {}}),
            json!({"errors": [1]}),
        ] {
            assert_eq!(Envelope::success_response(&body), None, "{body}");
        }
        assert_eq!(
            Envelope::first_error(&json!({"errors": [{"errorcode": 5}]})),
            (None, None)
        );
    }

    /// The request body keys are exactly the fields the API accepts.
    #[test]
    fn a_disposition_request_has_exactly_the_accepted_fields() {
        let request = DispositionRequest {
            description: None,
            dispositionid: 41,
            next_calldate: None,
            userid: "smstrigger".into(),
        };
        let value = serde_json::to_value(request).unwrap();
        let mut keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
        let mut fields: Vec<_> = DISPOSITION_FIELDS.iter().map(|s| s.to_string()).collect();
        keys.sort();
        fields.sort();
        assert_eq!(keys, fields);
    }
}
