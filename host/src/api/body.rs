//! `Json<T>` and `RawBody` for request bodies, with rejections in the
//! API's error shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body; malformed JSON is 400, a well-formed body of the wrong
/// shape 422, both naming what is wrong.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let RawBody(bytes) = RawBody::from_request(request, state).await?;
        parse(&bytes).map(Json)
    }
}

/// A body's bytes as they came (a webhook's signature covers them); one
/// over the size limit is a 413 `body_too_large` in the API's error shape.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(request, state)
            .await
            .map(RawBody)
            .map_err(|e| {
                let code = match e.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
                    _ => "bad_request",
                };
                ApiError::new(e.status(), code, e.body_text())
            })
    }
}

/// Parses a JSON body the way [`Json`] does, naming the field a shape
/// error is in (`invalid body: disposition.id: invalid type: …`).
///
/// serde_json reports some shape errors as syntax errors (a number where
/// an enum's name belongs is "expected value"), so a syntax error in a body
/// that is well-formed JSON after all is a shape error: 422, not 400.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        (e.into_inner(), path)
    });
    let parsed = parsed.and_then(|value| {
        deserializer.end().map_err(|e| (e, ".".to_string()))?;
        Ok(value)
    });
    parsed.map_err(|(e, path)| {
        use serde_json::error::Category;
        let well_formed = || serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
        let at = if path == "." {
            String::new()
        } else {
            format!("{path}: ")
        };
        match e.classify() {
            Category::Data => ApiError::invalid(format!("invalid body: {at}{e}")),
            Category::Syntax if well_formed() => {
                ApiError::invalid(format!("invalid body: {at}{e}"))
            }
            _ => ApiError::bad_request(format!("malformed JSON: {e}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // read only through Debug
    enum Choice {
        One,
    }

    #[test]
    fn a_well_formed_body_of_the_wrong_shape_is_422_and_broken_json_400() {
        for shape in [&b"1"[..], b"null", b"\"Two\"", b"[\"One\"]"] {
            let error = parse::<Choice>(shape).unwrap_err();
            assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY, "{error:?}");
        }
        for broken in [&b"\"One"[..], b"{", b""] {
            let error = parse::<Choice>(broken).unwrap_err();
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{error:?}");
        }
        assert!(matches!(parse::<Choice>(b"\"One\""), Ok(Choice::One)));
        let trailing = parse::<Choice>(b"\"One\" x").unwrap_err();
        assert_eq!(trailing.status, StatusCode::BAD_REQUEST, "{trailing:?}");
    }

    #[test]
    fn a_shape_error_names_its_field() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)] // read only through Debug
        struct Outer {
            inner: Inner,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            count: u32,
        }
        let error = parse::<Outer>(br#"{"inner": {"count": -1}}"#).unwrap_err();
        assert_eq!(error.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(error.message.contains("inner.count: "), "{}", error.message);
    }
}
