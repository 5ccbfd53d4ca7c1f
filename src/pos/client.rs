//! The HTTP plumbing every remote provider shares: the POS origin and its
//! key, the two clients (one that carries the key within the POS origin, one
//! that never does), retries through the endpoint's [`Resilience`], capped
//! body reading, and the category of every HTTP status.
//!
//! Every call has a connect and a per-read timeout (the pass deadline caps the
//! total), every body is streamed under a byte cap, and the API key is only
//! ever sent to the POS's own origin.

use reqwest::header::{self, HeaderName, HeaderValue};
use reqwest::redirect::Policy;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use url::Url;

use super::keys::{ApiKey, read_api_key};
use super::parse::quote;
use super::resilience::{MAX_RETRY_AFTER, Resilience, ResilienceSettings};
use crate::config::{ApiKeySource, DaemonSettings};
use crate::error::{Kind, StoreError};
use crate::image_sink::ImageSink;

/// Redirects followed for one request before giving up (a redirect loop ends here).
const MAX_REDIRECTS: usize = 5;

/// How a provider presents its key to its POS.
#[derive(Debug, Clone, Copy)]
pub(super) enum KeyHeader {
    /// `X-POS-API-KEY: <key>` (the reference protocol).
    PosApiKey,
    /// `Authorization: Bearer <key>` (Square).
    Bearer,
    /// `Authorization: <key>` (GloriaFood).
    Authorization,
}

impl KeyHeader {
    /// The header carrying `key`, marked sensitive so it is never printed.
    fn header(self, key: &ApiKey) -> Result<(HeaderName, HeaderValue), StoreError> {
        let (name, text) = match self {
            KeyHeader::PosApiKey => (
                HeaderName::from_static("x-pos-api-key"),
                key.expose().to_string(),
            ),
            KeyHeader::Bearer => (header::AUTHORIZATION, format!("Bearer {}", key.expose())),
            KeyHeader::Authorization => (header::AUTHORIZATION, key.expose().to_string()),
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            StoreError::new(
                Kind::Settings,
                "the POS API key holds characters an HTTP header cannot carry",
            )
        })?;
        value.set_sensitive(true);
        Ok((name, value))
    }
}

/// What was asked for; a refused image is a fault of the POS data, a refused
/// menu request a fault of our settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    Document,
    Image,
}

/// The kind of a non-success HTTP status, decided in this one place.
pub fn status_kind(status: StatusCode, asked: Asked) -> Kind {
    let status = status.as_u16();
    match (status, asked) {
        (401 | 403, _) => Kind::KeyRefused { status },
        (400 | 404 | 405 | 410, Asked::Document) => Kind::RequestRefused { status },
        (400 | 404 | 405 | 410, Asked::Image) => Kind::ImageMissing { status },
        (408 | 429 | 500..=599, _) => Kind::PosUnavailable { status },
        (_, Asked::Document) => Kind::BadDocument,
        (_, Asked::Image) => Kind::BadImage,
    }
}

/// What every remote provider shares: the POS origin, its key, its clients,
/// and its retries, breaker and rate limit.
#[derive(Debug)]
pub(super) struct PosClient {
    base_url: Url,
    key: ApiKeySource,
    key_header: KeyHeader,
    /// Retries, breaker and rate limit shared by every store on this endpoint.
    resilience: Resilience,
    /// Carries the key; follows redirects only within the POS origin.
    api_client: Client,
    /// Never carries the key; for images on another origin (a CDN).
    public_client: Client,
}

impl PosClient {
    pub(super) fn new(
        name: &str,
        base_url: &Url,
        key: ApiKeySource,
        key_header: KeyHeader,
        resilience: ResilienceSettings,
        daemon: &DaemonSettings,
    ) -> Result<PosClient, StoreError> {
        let mut base_url = base_url.clone();
        if !base_url.path().ends_with('/') {
            // `Url::join` replaces the last segment unless the base ends with a slash.
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        let origin = base_url.origin();
        let same_origin_only = Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if attempt.url().origin() != origin {
                // Stop here: the caller sees the 3xx and never sends the key elsewhere.
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let build = |policy: Policy| {
            Client::builder()
                .connect_timeout(daemon.connect_timeout)
                .read_timeout(daemon.read_timeout)
                .redirect(policy)
                .user_agent(concat!("menusync/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|err| {
                    StoreError::with_source(Kind::Settings, "building the HTTP client", err)
                })
        };
        Ok(PosClient {
            base_url,
            key,
            key_header,
            resilience: Resilience::new(name, resilience),
            api_client: build(same_origin_only)?,
            public_client: build(Policy::limited(MAX_REDIRECTS))?,
        })
    }

    /// `path` (fixed, relative) on the POS's base URL.
    pub(super) fn url(&self, path: &str) -> Url {
        self.base_url
            .join(path)
            .expect("a fixed relative path always joins")
    }

    pub(super) fn api_key(&self) -> Result<ApiKey, StoreError> {
        read_api_key(&self.key)
    }

    /// A request to the POS's own origin, carrying the key.
    pub(super) fn request(
        &self,
        method: Method,
        url: &Url,
        key: &ApiKey,
    ) -> Result<RequestBuilder, StoreError> {
        let (name, value) = self.key_header.header(key)?;
        Ok(self
            .api_client
            .request(method, url.clone())
            .header(name, value))
    }

    /// Runs one request to the POS itself through the breaker, rate limit and retries.
    pub(super) async fn call<T, F, Fut>(&self, request: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        self.resilience.call(true, request).await
    }

    /// Streams one image into `sink`; the key goes along only to the POS's own origin.
    pub(super) async fn fetch_image(
        &self,
        url: &str,
        sink: &mut ImageSink,
    ) -> Result<(), StoreError> {
        let resolved = self.base_url.join(url).map_err(|err| {
            StoreError::with_source(
                Kind::BadImage,
                format!("image url {:?} does not parse", redact(url)),
                err,
            )
        })?;
        if !matches!(resolved.scheme(), "http" | "https") {
            return Err(StoreError::new(
                Kind::BadImage,
                format!("image url {} is not http or https", shown(&resolved)),
            ));
        }
        let same_origin = resolved.origin() == self.base_url.origin();
        let key = if same_origin {
            Some(self.api_key()?)
        } else {
            None
        };
        // A retry restarts the image from its first byte.
        // The sink is borrowed by one attempt at a time; the lock only satisfies the borrow checker.
        let sink = tokio::sync::Mutex::new(sink);
        self.resilience
            .call(same_origin, || async {
                let mut sink = sink.lock().await;
                sink.restart().await?;
                self.fetch_image_once(&resolved, key.as_ref(), &mut sink)
                    .await
            })
            .await
    }

    async fn fetch_image_once(
        &self,
        resolved: &Url,
        key: Option<&ApiKey>,
        sink: &mut ImageSink,
    ) -> Result<(), StoreError> {
        let request = match key {
            Some(key) => self.request(Method::GET, resolved, key)?,
            None => self.public_client.get(resolved.clone()),
        };
        let mut response = send(resolved, request).await?;

        // A same-origin URL that redirects off-origin is fetched again without the key.
        if response.status().is_redirection()
            && let Some(location) = response
                .headers()
                .get(header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| response.url().join(value).ok())
        {
            response = send(&location, self.public_client.get(location.clone())).await?;
        }
        let mut response = check_status(resolved, response, Asked::Image)?;
        if let Some(length) = response.content_length() {
            sink.check_announced_size(length)?;
        }
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| request_error(resolved, err))?
        {
            sink.write(&chunk).await?;
        }
        Ok(())
    }
}

/// Sends a request, mapping transport failures to their category.
pub(super) async fn send(url: &Url, request: RequestBuilder) -> Result<Response, StoreError> {
    request.send().await.map_err(|err| request_error(url, err))
}

pub(super) fn request_error(url: &Url, err: reqwest::Error) -> StoreError {
    if err.is_redirect() {
        // A redirect loop is what the POS data says, not a passing outage: never retried.
        return StoreError::with_source(
            Kind::BadDocument,
            format!("request to {} redirected too often", shown(url)),
            err.without_url(),
        );
    }
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    StoreError::with_source(
        Kind::Unreachable,
        format!("request to {} {what}", shown(url)),
        err.without_url(),
    )
}

pub(super) fn check_status(
    url: &Url,
    response: Response,
    asked: Asked,
) -> Result<Response, StoreError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let mut err = StoreError::new(
        status_kind(status, asked),
        format!("{} answered {status}", shown(url)),
    );
    if matches!(status.as_u16(), 429 | 503) {
        err.retry_after = retry_after(response.headers());
    }
    Err(err)
}

/// A `Retry-After` in seconds, capped at [`MAX_RETRY_AFTER`]; HTTP dates are ignored.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<std::time::Duration> {
    let seconds: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(std::time::Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// Reads a successful answer that must be JSON: under `max_bytes`, and refused when it is HTML.
pub(super) async fn read_json_body(
    verb: &str,
    url: &Url,
    response: Response,
    max_bytes: u64,
) -> Result<Vec<u8>, StoreError> {
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.to_ascii_lowercase().contains("html"));
    let body = read_capped(url, response, max_bytes).await?;
    if is_html {
        return Err(StoreError::new(
            Kind::BadDocument,
            format!(
                "{verb} {url} answered HTML, not JSON; it starts with {}",
                quote(&body)
            ),
        ));
    }
    Ok(body)
}

/// Reads a whole body, refusing it as soon as it passes `max_bytes`.
async fn read_capped(
    url: &Url,
    mut response: Response,
    max_bytes: u64,
) -> Result<Vec<u8>, StoreError> {
    let too_big = || {
        StoreError::new(
            Kind::BadDocument,
            format!("{} sent a body over the {max_bytes} byte cap", shown(url)),
        )
    };
    if response
        .content_length()
        .is_some_and(|length| length > max_bytes)
    {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| request_error(url, err))?
    {
        if (body.len() + chunk.len()) as u64 > max_bytes {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `url` as it may be printed: without a user name or password, which may be a key.
pub fn shown(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut clean = url.clone();
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.to_string()
}

/// A URL as written (it may not even parse) with any `user:password@` cut out.
pub fn redact(text: &str) -> String {
    let Some(scheme_end) = text.find("://").map(|at| at + 3) else {
        return text.to_string();
    };
    let authority_end = text[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |at| scheme_end + at);
    match text[scheme_end..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &text[..scheme_end], &text[scheme_end + at + 1..]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Category;

    /// Issue 12: a key written into a URL (`http://user:KEY@host/`) was printed
    /// in log lines, `status` and state.json.
    #[test]
    fn urls_are_never_shown_with_their_user_or_password() {
        let url = Url::parse("https://user:SECRET@pos.example.com:8443/img/a.jpg?x=1").unwrap();
        assert_eq!(shown(&url), "https://pos.example.com:8443/img/a.jpg?x=1");
        for (written, expected) in [
            ("http://user:SECRET@host/a", "http://host/a"),
            ("http://SECRET@host", "http://host"),
            ("http://a@b:SECRET@host/x@y", "http://host/x@y"),
            ("not a url with @ in it", "not a url with @ in it"),
            ("img/IMG100.jpg", "img/IMG100.jpg"),
        ] {
            assert_eq!(redact(written), expected, "{written}");
        }
    }

    #[test]
    fn statuses_follow_the_protocol_table() {
        let table = [
            (400, Category::Config, Category::Data),
            (404, Category::Config, Category::Data),
            (410, Category::Config, Category::Data),
            (401, Category::Auth, Category::Auth),
            (403, Category::Auth, Category::Auth),
            (408, Category::Network, Category::Network),
            (429, Category::Network, Category::Network),
            (500, Category::Network, Category::Network),
            (502, Category::Network, Category::Network),
            (503, Category::Network, Category::Network),
            (302, Category::Data, Category::Data),
            (304, Category::Data, Category::Data),
            (418, Category::Data, Category::Data),
        ];
        for (code, document, image) in table {
            let status = StatusCode::from_u16(code).unwrap();
            let kind = status_kind(status, Asked::Document);
            assert_eq!(kind.category(), document, "status {code}: {kind:?}");
            let kind = status_kind(status, Asked::Image);
            assert_eq!(kind.category(), image, "image status {code}: {kind:?}");
        }
        assert_eq!(
            status_kind(StatusCode::NOT_FOUND, Asked::Image),
            Kind::ImageMissing { status: 404 }
        );
        assert_eq!(
            status_kind(StatusCode::UNAUTHORIZED, Asked::Document),
            Kind::KeyRefused { status: 401 }
        );
    }

    #[test]
    fn api_key_never_prints() {
        let key = ApiKey::new("s3cr3t-key".into());
        assert_eq!(format!("{key}"), "MASKED");
        assert_eq!(format!("{key:?}"), "MASKED");
    }

    #[test]
    fn key_headers_are_sensitive_and_shaped_per_provider() {
        let key = ApiKey::new("tok".into());
        let table = [
            (KeyHeader::PosApiKey, "x-pos-api-key", "tok"),
            (KeyHeader::Bearer, "authorization", "Bearer tok"),
            (KeyHeader::Authorization, "authorization", "tok"),
        ];
        for (style, name, value) in table {
            let (header_name, header_value) = style.header(&key).unwrap();
            assert_eq!(header_name.as_str(), name);
            assert_eq!(header_value.to_str().unwrap(), value);
            assert!(header_value.is_sensitive());
            assert!(!format!("{header_value:?}").contains("tok"));
        }
        let broken = ApiKey::new("line\nbreak".into());
        assert_eq!(
            KeyHeader::Bearer.header(&broken).unwrap_err().kind,
            Kind::Settings
        );
    }
}
