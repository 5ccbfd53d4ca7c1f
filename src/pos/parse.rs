//! Parses a POS body as a JSON document, and quotes a body for a log line.
//!
//! Every provider reads its answers through [`parse_document`], so an HTML
//! maintenance page or a truncated body is the same data failure whichever
//! kind asked, and its message quotes the start of the body with [`quote`].

use serde::de::DeserializeOwned;

use crate::error::{Kind, StoreError};

/// How much of an unexpected body a log line quotes.
const QUOTE_BYTES: usize = 200;

/// Parses a POS document, quoting the start of the body when it is not what we expect.
pub(super) fn parse_document<T: DeserializeOwned>(
    what: &str,
    bytes: &[u8],
) -> Result<(serde_json::Value, T), StoreError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|err| {
        StoreError::new(
            Kind::BadDocument,
            format!(
                "the POS {what} is not JSON ({err}); it starts with {}",
                quote(bytes)
            ),
        )
    })?;
    if !value.is_object() {
        return Err(StoreError::new(
            Kind::BadDocument,
            format!(
                "the POS {what} is not a JSON object; it starts with {}",
                quote(bytes)
            ),
        ));
    }
    let parsed = T::deserialize(&value).map_err(|err| {
        StoreError::new(
            Kind::BadDocument,
            format!("the POS {what} does not fit the protocol: {err}"),
        )
    })?;
    Ok((value, parsed))
}

/// At most [`QUOTE_BYTES`] of a body, as a quoted, escaped string safe for one log line.
pub fn quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(QUOTE_BYTES)]);
    format!("{:?}", text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pos::doc::MenuDoc;

    #[test]
    fn html_and_truncated_bodies_are_data_failures_that_quote_the_body() {
        let html = b"<!DOCTYPE html><html><body>Maintenance</body></html>";
        let err = parse_document::<MenuDoc>("menu", html).unwrap_err();
        assert_eq!(err.kind, Kind::BadDocument);
        assert!(err.message.contains("Maintenance"), "{}", err.message);

        let truncated = br#"{"storeId":"S1","items":[{"itemId":"I1""#;
        let err = parse_document::<MenuDoc>("menu", truncated).unwrap_err();
        assert_eq!(err.kind, Kind::BadDocument);

        // A document of the wrong shape fails; one item of the wrong shape
        // costs that item only (issue 12).
        let wrong_shape = br#"{"items":{"itemId":5}}"#;
        let err = parse_document::<MenuDoc>("menu", wrong_shape).unwrap_err();
        assert_eq!(err.kind, Kind::BadDocument);
        let wrong_item = br#"{"items":[{"itemId":5}]}"#;
        let (_, doc) = parse_document::<MenuDoc>("menu", wrong_item).unwrap();
        assert!(doc.items.is_empty());
        assert_eq!(doc.problems[0].subject, "item 5");
    }

    #[test]
    fn quote_is_capped_and_stays_on_one_line() {
        let body = "가".repeat(500);
        let quoted = quote(body.as_bytes());
        assert!(quoted.len() < QUOTE_BYTES + 40, "{}", quoted.len());
        assert!(!quote(b"line1\nline2").contains('\n'));
    }
}
