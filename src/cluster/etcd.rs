//! etcd through its gRPC gateway: JSON over HTTP(S) at `/v3/...`, with the
//! reqwest client the POS already uses.
//!
//! Not the `etcd-client` crate: it compiles etcd's `.proto` files at build
//! time and needs `protoc`, which a fresh machine of ours lacks (the README's
//! first command would stop compiling). The gateway ships in every etcd
//! since 3.3 and speaks the same API: ranges, transactions, leases.
//!
//! Keys and values travel base64-encoded; 64-bit numbers come back as JSON
//! strings (proto3's JSON mapping). Each call tries the endpoints in turn,
//! starting with the last one that answered, each under `timeout`; with
//! `user` set, a token from `/v3/auth/authenticate` rides in `Authorization`
//! and is renewed once when etcd refuses it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

/// Why a call to etcd did not give an answer.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// No endpoint answered in time (down, partitioned, no quorum).
    #[error("etcd unreachable: {0}")]
    Unreachable(String),
    /// etcd answered with an error (bad auth, a refused request).
    #[error("etcd refused the request: {0}")]
    Refused(String),
}

/// User and password for etcd's auth, read from files when the config is loaded.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credentials {{ user: {:?}, password: MASKED }}",
            self.user
        )
    }
}

/// One key as a range returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
}

/// A comparison of a transaction.
#[derive(Debug, Clone)]
pub enum Compare {
    /// The key's create revision equals this (0: the key does not exist).
    Created(String, i64),
    /// The key's last modification is at this revision (unchanged since read).
    Modified(String, i64),
}

/// A request of a transaction's branch.
#[derive(Debug, Clone)]
pub enum Op {
    Put {
        key: String,
        value: Vec<u8>,
        lease: Option<i64>,
    },
    Delete(String),
    Get(String),
}

/// What a transaction did.
#[derive(Debug, Clone)]
pub struct TxnResult {
    pub succeeded: bool,
    /// The store's revision after the transaction.
    pub revision: i64,
    /// Keys the branch's `Get`s found.
    pub found: Vec<KeyValue>,
}

pub struct Etcd {
    client: reqwest::Client,
    endpoints: Vec<url::Url>,
    /// The endpoint that answered last: the first one tried next time.
    preferred: AtomicUsize,
    credentials: Option<Credentials>,
    token: Mutex<Option<String>>,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

impl Etcd {
    pub fn new(
        endpoints: Vec<url::Url>,
        client: reqwest::Client,
        credentials: Option<Credentials>,
    ) -> Etcd {
        Etcd {
            client,
            endpoints,
            preferred: AtomicUsize::new(0),
            credentials,
            token: Mutex::new(None),
        }
    }

    pub fn endpoints(&self) -> &[url::Url] {
        &self.endpoints
    }

    /// A new lease of `ttl` seconds; its id.
    pub async fn grant(&self, ttl: u64, timeout: Duration) -> Result<i64, EtcdError> {
        let answer = self
            .call(
                "/v3/lease/grant",
                json!({ "TTL": ttl.to_string() }),
                timeout,
            )
            .await?;
        number(&answer["ID"]).ok_or_else(|| EtcdError::Refused(format!("lease grant: {answer}")))
    }

    /// Renews `lease`; the seconds it now has left, 0 when it has expired.
    pub async fn keep_alive(&self, lease: i64, timeout: Duration) -> Result<i64, EtcdError> {
        let answer = self
            .call(
                "/v3/lease/keepalive",
                json!({ "ID": lease.to_string() }),
                timeout,
            )
            .await?;
        // A stream on the wire: one answer object, `{"result": {...}}`.
        let result = answer.get("result").unwrap_or(&answer);
        Ok(number(&result["TTL"]).unwrap_or(0))
    }

    /// Ends `lease` and every key attached to it.
    pub async fn revoke(&self, lease: i64, timeout: Duration) -> Result<(), EtcdError> {
        self.call(
            "/v3/lease/revoke",
            json!({ "ID": lease.to_string() }),
            timeout,
        )
        .await
        .map(drop)
    }

    /// The key, if it exists.
    pub async fn get(&self, key: &str, timeout: Duration) -> Result<Option<KeyValue>, EtcdError> {
        let answer = self
            .call("/v3/kv/range", json!({ "key": B64.encode(key) }), timeout)
            .await?;
        Ok(kvs(&answer).into_iter().next())
    }

    /// Every key under `prefix`.
    pub async fn get_prefix(
        &self,
        prefix: &str,
        timeout: Duration,
    ) -> Result<Vec<KeyValue>, EtcdError> {
        let answer = self
            .call(
                "/v3/kv/range",
                json!({ "key": B64.encode(prefix), "range_end": B64.encode(prefix_end(prefix)) }),
                timeout,
            )
            .await?;
        Ok(kvs(&answer))
    }

    /// `success` if every comparison holds, else `failure`, atomically.
    pub async fn txn(
        &self,
        compare: &[Compare],
        success: &[Op],
        failure: &[Op],
        timeout: Duration,
    ) -> Result<TxnResult, EtcdError> {
        let compare: Vec<Value> = compare
            .iter()
            .map(|compare| match compare {
                Compare::Created(key, revision) => json!({
                    "key": B64.encode(key),
                    "target": "CREATE",
                    "result": "EQUAL",
                    "create_revision": revision.to_string(),
                }),
                Compare::Modified(key, revision) => json!({
                    "key": B64.encode(key),
                    "target": "MOD",
                    "result": "EQUAL",
                    "mod_revision": revision.to_string(),
                }),
            })
            .collect();
        let ops = |ops: &[Op]| -> Vec<Value> { ops.iter().map(op_json).collect() };
        let answer = self
            .call(
                "/v3/kv/txn",
                json!({ "compare": compare, "success": ops(success), "failure": ops(failure) }),
                timeout,
            )
            .await?;
        let found = answer["responses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|response| response.get("response_range"))
            .flat_map(kvs)
            .collect();
        Ok(TxnResult {
            succeeded: answer["succeeded"].as_bool().unwrap_or(false),
            revision: number(&answer["header"]["revision"]).unwrap_or(0),
            found,
        })
    }

    /// POSTs `body` to `path` on the first endpoint that answers.
    async fn call(&self, path: &str, body: Value, timeout: Duration) -> Result<Value, EtcdError> {
        let mut last = String::from("no endpoint");
        let count = self.endpoints.len();
        let first = self.preferred.load(Ordering::Relaxed);
        for step in 0..count {
            let index = (first + step) % count;
            let endpoint = &self.endpoints[index];
            match self.call_one(endpoint, path, &body, timeout).await {
                Ok(answer) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return Ok(answer);
                }
                Err(EtcdError::Unreachable(why)) => last = format!("{endpoint}: {why}"),
                Err(refused) => return Err(refused),
            }
        }
        Err(EtcdError::Unreachable(last))
    }

    async fn call_one(
        &self,
        endpoint: &url::Url,
        path: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Value, EtcdError> {
        let url = endpoint
            .join(path)
            .map_err(|err| EtcdError::Refused(format!("{endpoint}{path}: {err}")))?;
        for attempt in 0..2 {
            let token = match &self.credentials {
                Some(credentials) => Some(self.token(endpoint, credentials, timeout).await?),
                None => None,
            };
            let mut request = self.client.post(url.clone()).json(body).timeout(timeout);
            if let Some(token) = &token {
                request = request.header(reqwest::header::AUTHORIZATION, token);
            }
            let response = request
                .send()
                .await
                .map_err(|err| EtcdError::Unreachable(error_chain(&err)))?;
            let status = response.status();
            let text = response
                .text()
                .await
                .map_err(|err| EtcdError::Unreachable(error_chain(&err)))?;
            if status.is_success() {
                // A streamed answer (keepalive) is one JSON object per line.
                let first = text
                    .lines()
                    .find(|line| !line.trim().is_empty())
                    .unwrap_or("{}");
                let answer: Value = serde_json::from_str(first)
                    .map_err(|err| EtcdError::Refused(format!("{path}: {err}: {first}")))?;
                if let Some(error) = answer.get("error") {
                    return Err(classify(status, &error.to_string()));
                }
                return Ok(answer);
            }
            let expired = text.contains("invalid auth token") || text.contains("token");
            if attempt == 0 && token.is_some() && expired {
                *self.token.lock().expect("the token lock is never poisoned") = None;
                continue;
            }
            return Err(classify(status, &text));
        }
        Err(EtcdError::Refused(format!(
            "{path}: the auth token was refused twice"
        )))
    }

    async fn token(
        &self,
        endpoint: &url::Url,
        credentials: &Credentials,
        timeout: Duration,
    ) -> Result<String, EtcdError> {
        if let Some(token) = self
            .token
            .lock()
            .expect("the token lock is never poisoned")
            .clone()
        {
            return Ok(token);
        }
        let url = endpoint
            .join("/v3/auth/authenticate")
            .map_err(|err| EtcdError::Refused(err.to_string()))?;
        let response = self
            .client
            .post(url)
            .json(&json!({ "name": credentials.user, "password": credentials.password }))
            .timeout(timeout)
            .send()
            .await
            .map_err(|err| EtcdError::Unreachable(error_chain(&err)))?;
        let status = response.status();
        let answer: Value = response
            .json()
            .await
            .map_err(|err| EtcdError::Unreachable(error_chain(&err)))?;
        let Some(token) = answer["token"].as_str().filter(|_| status.is_success()) else {
            return Err(EtcdError::Refused(format!(
                "authenticating as {}: {status} {answer}",
                credentials.user
            )));
        };
        *self.token.lock().expect("the token lock is never poisoned") = Some(token.to_string());
        Ok(token.to_string())
    }
}

/// A failed answer: unavailable or timed out (no leader, no quorum) is
/// "unreachable", so the next endpoint is tried; anything else is a refusal.
fn classify(status: reqwest::StatusCode, text: &str) -> EtcdError {
    let unavailable = status.is_server_error()
        && (text.contains("no leader")
            || text.contains("timed out")
            || text.contains("timeout")
            || text.contains("unavailable")
            || text.contains("not capable")
            || text.contains("stopped"));
    let text = text.trim();
    let text = &text[..text.floor_char_boundary(300)];
    if unavailable || status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
        EtcdError::Unreachable(format!("{status}: {text}"))
    } else {
        EtcdError::Refused(format!("{status}: {text}"))
    }
}

fn op_json(op: &Op) -> Value {
    match op {
        Op::Put { key, value, lease } => {
            let mut put = json!({ "key": B64.encode(key), "value": B64.encode(value) });
            if let Some(lease) = lease {
                put["lease"] = Value::String(lease.to_string());
            }
            json!({ "request_put": put })
        }
        Op::Delete(key) => json!({ "request_delete_range": { "key": B64.encode(key) } }),
        Op::Get(key) => json!({ "request_range": { "key": B64.encode(key) } }),
    }
}

/// The keys of a range answer (`kvs` is absent when nothing matched).
fn kvs(answer: &Value) -> Vec<KeyValue> {
    #[derive(Deserialize)]
    struct Raw {
        key: String,
        #[serde(default)]
        value: String,
        #[serde(default)]
        create_revision: Value,
        #[serde(default)]
        mod_revision: Value,
    }
    answer["kvs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|kv| serde_json::from_value::<Raw>(kv.clone()).ok())
        .filter_map(|raw| {
            let key = String::from_utf8(B64.decode(raw.key).ok()?).ok()?;
            Some(KeyValue {
                key,
                value: B64.decode(raw.value).ok()?,
                create_revision: number(&raw.create_revision).unwrap_or(0),
                mod_revision: number(&raw.mod_revision).unwrap_or(0),
            })
        })
        .collect()
}

/// A 64-bit number as proto3 JSON writes it: a string, or a number.
fn number(value: &Value) -> Option<i64> {
    match value {
        Value::String(text) => text.parse().ok(),
        Value::Number(number) => number.as_i64(),
        _ => None,
    }
}

/// The end of the range of every key starting with `prefix`.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_range_ends_after_every_key_with_the_prefix() {
        assert_eq!(prefix_end("/menusync/a/"), b"/menusync/a0".to_vec());
        assert_eq!(prefix_end(""), vec![0]);
    }

    #[test]
    fn numbers_read_as_strings_or_numbers() {
        assert_eq!(number(&json!("7587886")), Some(7587886));
        assert_eq!(number(&json!(12)), Some(12));
        assert_eq!(number(&json!(null)), None);
    }

    #[test]
    fn a_range_answer_without_kvs_is_empty_and_values_decode() {
        assert!(kvs(&json!({"header": {}})).is_empty());
        let answer = json!({"kvs": [{"key": B64.encode("k"), "value": B64.encode("v"),
            "create_revision": "5", "mod_revision": "6"}]});
        assert_eq!(
            kvs(&answer),
            vec![KeyValue {
                key: "k".into(),
                value: b"v".to_vec(),
                create_revision: 5,
                mod_revision: 6
            }]
        );
    }

    #[test]
    fn no_leader_is_unreachable_a_bad_request_is_refused() {
        let unavailable = classify(
            reqwest::StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":"etcdserver: no leader"}"#,
        );
        assert!(matches!(unavailable, EtcdError::Unreachable(_)));
        let refused = classify(reqwest::StatusCode::BAD_REQUEST, "bad");
        assert!(matches!(refused, EtcdError::Refused(_)));
    }

    #[test]
    fn credentials_never_print_the_password() {
        let credentials = Credentials {
            user: "menusync".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }
}
