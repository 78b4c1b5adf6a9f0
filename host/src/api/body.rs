//! `Json<T>` for request bodies, with rejections in the API's error shape.

use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body; malformed JSON is 400, a well-formed body of the wrong
/// shape 422, both naming what is wrong.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::new(e.status(), "bad_request", e.body_text()))?;
        parse(&bytes).map(Json)
    }
}

/// Parses a JSON body the way [`Json`] does.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::invalid(format!("invalid body: {e}")),
            _ => ApiError::bad_request(format!("malformed JSON: {e}")),
        }
    })
}
