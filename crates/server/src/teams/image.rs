//! Profile images of teams and team members.
//!
//! Stack Auth uploads a `data:image/…;base64,` value to S3 and stores the
//! object's URL, keeps an `http(s)://` URL as given, and refuses anything else.
//! This server has no object store, so it keeps a data URL as given (after the
//! checks Stack Auth's upload makes: at most 1,000,000 bytes, an image it can
//! recognise) and returns it where Stack Auth would return the S3 URL. An
//! `<img src>` shows either the same way; a client that expects an `http`
//! URL on Stack Auth's storage host sees the difference. SVG is refused: a
//! data URL is served as is, and this server does not sanitise SVG.

use base64::Engine as _;

use crate::error::ApiError;
use crate::validate::Patch;

/// The message of every refused image value.
pub const INVALID_IMAGE_URL: &str = "Invalid profile image URL";

/// Largest decoded image, in bytes (Stack Auth's upload limit).
pub const MAX_IMAGE_BYTES: usize = 1_000_000;

/// The message Stack Auth's image check gives for data it cannot read as an image.
const NOT_AN_IMAGE: &str = "Invalid image format or corrupted image data";

/// The image types a client may send as a data URL (Stack Auth's client check).
const CLIENT_DATA_URL_TYPES: [&str; 6] = ["png", "jpg", "jpeg", "gif", "bmp", "webp"];

/// Whether a client may send `value` as an image: a base64 data URL of one of
/// [`CLIENT_DATA_URL_TYPES`], or bare base64 (which [`stored_url`] then refuses
/// as it is no URL). Clients cannot set `http(s)` URLs.
pub fn client_may_send(value: &str) -> bool {
    let data = match value.strip_prefix("data:image/") {
        Some(rest) => match rest.split_once(";base64,") {
            Some((kind, data)) if CLIENT_DATA_URL_TYPES.contains(&kind) => data,
            _ => return false,
        },
        None => value,
    };
    is_padded_base64(data)
}

/// Refuses an image a client may not send (see [`client_may_send`]); an
/// empty string, which means "no image", passes.
///
/// # Errors
/// The plain 400 [`INVALID_IMAGE_URL`].
pub fn check_client_image(value: &str) -> Result<(), ApiError> {
    if value.is_empty() || client_may_send(value) {
        Ok(())
    } else {
        Err(ApiError::bad_request(INVALID_IMAGE_URL))
    }
}

/// The change an image field of a PATCH makes: `None` keeps the image (also
/// for an empty string, which Stack Auth's upload treats as "not sent"),
/// `Some(None)` removes it, `Some(Some(url))` stores [`stored_url`]'s value.
///
/// # Errors
/// Those of [`stored_url`].
pub fn patch_change(patch: &Patch<String>) -> Result<Option<Option<String>>, ApiError> {
    Ok(match patch {
        Patch::Set(url) if url.is_empty() => None,
        Patch::Set(url) => Some(Some(stored_url(url)?)),
        Patch::Null => Some(None),
        Patch::Absent => None,
    })
}

/// `[A-Za-z0-9+/]+={0,2}`.
fn is_padded_base64(data: &str) -> bool {
    let body = data.trim_end_matches('=');
    data.len() - body.len() <= 2
        && !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// The value to store for an image a request sent: an `http(s)` URL as
/// given, a base64 image data URL as given once it has passed the upload
/// checks.
///
/// # Errors
/// Plain 400s: `Invalid profile image URL` for anything else, the size or
/// format message for a data URL that is too big or not an image.
pub fn stored_url(value: &str) -> Result<String, ApiError> {
    if let Some(data) = data_url_payload(value) {
        check_image(data)?;
        Ok(value.to_owned())
    } else if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value.to_owned())
    } else {
        Err(ApiError::bad_request(INVALID_IMAGE_URL))
    }
}

/// The base64 part of `data:image/<alphanumeric>;base64,<payload>`.
fn data_url_payload(value: &str) -> Option<&str> {
    let rest = value.strip_prefix("data:image/")?;
    let (kind, payload) = rest.split_once(";base64,")?;
    (!kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(payload)
}

fn check_image(payload: &str) -> Result<(), ApiError> {
    let too_big = |size: usize| {
        ApiError::bad_request(format!(
            "Image size ({size} bytes) exceeds maximum allowed size ({MAX_IMAGE_BYTES} bytes)"
        ))
    };
    if payload.len() > MAX_IMAGE_BYTES {
        return Err(too_big(payload.len()));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .map_err(|_| ApiError::bad_request(NOT_AN_IMAGE))?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(too_big(bytes.len()));
    }
    if image_format(&bytes).is_none() {
        return Err(ApiError::bad_request(NOT_AN_IMAGE));
    }
    Ok(())
}

/// The format of an image, recognised by its magic number: the raster
/// formats Stack Auth's image library reads.
fn image_format(bytes: &[u8]) -> Option<&'static str> {
    let at = |offset: usize, magic: &[u8]| bytes.get(offset..offset + magic.len()) == Some(magic);
    if at(0, b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if at(0, b"\xff\xd8\xff") {
        Some("jpeg")
    } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
        Some("gif")
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        Some("webp")
    } else if at(0, b"II*\0") || at(0, b"MM\0*") {
        Some("tiff")
    } else if at(4, b"ftyp") && (at(8, b"avif") || at(8, b"avis") || at(8, b"heic")) {
        Some("heif")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIF: &str = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw==";

    #[test]
    fn http_urls_and_image_data_urls_are_kept_as_given() {
        assert_eq!(
            stored_url("https://example.com/a.png").ok().as_deref(),
            Some("https://example.com/a.png")
        );
        assert_eq!(stored_url(GIF).ok().as_deref(), Some(GIF));
    }

    #[test]
    fn other_values_are_refused_with_stack_auths_texts() {
        let message = |v: &str| match stored_url(v) {
            Err(ApiError::Status {
                status: 400,
                message,
            }) => message,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(message("ftp://example.com/a.png"), INVALID_IMAGE_URL);
        assert_eq!(
            message("data:text/plain;base64,SGVsbG8="),
            INVALID_IMAGE_URL
        );
        assert_eq!(message("data:image/png;base64,SGVsbG8="), NOT_AN_IMAGE);
        assert_eq!(message("data:image/png;base64,!!"), NOT_AN_IMAGE);
        let svg = base64::engine::general_purpose::STANDARD.encode("<svg></svg>");
        assert_eq!(
            message(&format!("data:image/svg;base64,{svg}")),
            NOT_AN_IMAGE
        );
        let huge = "A".repeat(MAX_IMAGE_BYTES + 4);
        assert_eq!(
            message(&format!("data:image/png;base64,{huge}")),
            format!(
                "Image size ({} bytes) exceeds maximum allowed size (1000000 bytes)",
                MAX_IMAGE_BYTES + 4
            )
        );
    }

    #[test]
    fn clients_may_send_base64_images_only() {
        assert!(client_may_send(GIF));
        assert!(client_may_send("ABC123"));
        assert!(!client_may_send("https://example.com/a.png"));
        assert!(!client_may_send("data:image/svg;base64,PHN2Zz4="));
        assert!(!client_may_send("data:image/png;base64,invalid!base64"));
        assert!(!client_may_send("data:image/png;base64,QQ==="));
        assert!(!client_may_send(""));
    }
}
