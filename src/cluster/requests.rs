//! Staff decisions from any host: with a cluster, `approve`, `reject` and
//! `rollback` are carried out by the leader, on the releases it holds and
//! with its proof of leadership. The command writes a request, the leader's
//! daemon claims it (deleting it in a transaction fenced by its token, so
//! two leaders never both act), runs it and writes the answer the command
//! waits for.
//!
//! ```text
//! requests/<store>/<id>   {op, to, from, at}     written by the command
//! answers/<id>            {ok, message}          written by the leader, on its lease
//! ```

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::etcd::{Compare, Etcd, Op};
use super::member::{Member, leader_key};
use crate::config::ClusterSettings;

/// What staff asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub op: Decision,
    /// `rollback --to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The member the command ran on.
    pub from: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Reject,
    Rollback,
}

/// The leader's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub ok: bool,
    pub message: String,
}

/// A request the leader claimed: its id, store and content.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub store: String,
    pub request: Request,
}

fn requests_prefix(settings: &ClusterSettings) -> String {
    format!("{}requests/", settings.prefix())
}

fn answer_key(settings: &ClusterSettings, id: &str) -> String {
    format!("{}answers/{id}", settings.prefix())
}

/// Writes `request` for `store` and waits up to `wait` for the leader's answer.
pub async fn ask(
    etcd: &Etcd,
    settings: &ClusterSettings,
    store: &str,
    request: &Request,
    wait: Duration,
) -> Result<Answer, String> {
    let timeout = Duration::from_secs(3);
    let id = format!(
        "{}-{}-{}",
        Utc::now().timestamp_micros(),
        settings.member,
        std::process::id()
    );
    let key = format!("{}{store}/{id}", requests_prefix(settings));
    let value = serde_json::to_vec(request).expect("a request serialises");
    etcd.txn(
        &[],
        &[Op::Put {
            key: key.clone(),
            value,
            lease: None,
        }],
        &[],
        timeout,
    )
    .await
    .map_err(|err| format!("cannot write the request to etcd: {err}"))?;
    let deadline = Instant::now() + wait;
    let answer = answer_key(settings, &id);
    while Instant::now() < deadline {
        if let Ok(Some(found)) = etcd.get(&answer, timeout).await {
            let _ = etcd
                .txn(&[], &[Op::Delete(answer.clone())], &[], timeout)
                .await;
            return serde_json::from_slice(&found.value)
                .map_err(|err| format!("the leader's answer does not read: {err}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Not carried out: take it back, unless the leader claimed it meanwhile.
    let _ = etcd.txn(&[], &[Op::Delete(key)], &[], timeout).await;
    Err(format!(
        "no leader answered within {wait:?}: is `menusync run` leading on some host? \
         (`menusync status` shows who leads)"
    ))
}

impl Member {
    /// Claims every waiting request, each deleted in a transaction fenced by
    /// this leader's token; only requests this leader deleted are returned.
    pub async fn claim_requests(&self) -> Vec<Claimed> {
        let Some(token) = self.leading() else {
            return Vec::new();
        };
        let settings = self.settings();
        let timeout = self.request_timeout();
        let Ok(waiting) = self
            .etcd()
            .get_prefix(&requests_prefix(settings), timeout)
            .await
        else {
            return Vec::new();
        };
        let mut claimed = Vec::new();
        for kv in waiting {
            let rest = &kv.key[requests_prefix(settings).len()..];
            let Some((store, id)) = rest.split_once('/') else {
                continue;
            };
            let claim = self
                .etcd()
                .txn(
                    &[
                        Compare::Created(leader_key(settings), token),
                        Compare::Created(kv.key.clone(), kv.create_revision),
                    ],
                    &[Op::Delete(kv.key.clone())],
                    &[],
                    timeout,
                )
                .await;
            if !claim.is_ok_and(|txn| txn.succeeded) {
                continue;
            }
            match serde_json::from_slice::<Request>(&kv.value) {
                Ok(request) => claimed.push(Claimed {
                    id: id.to_string(),
                    store: store.to_string(),
                    request,
                }),
                Err(err) => {
                    self.answer(
                        id,
                        Answer {
                            ok: false,
                            message: format!("the request does not read: {err}"),
                        },
                    )
                    .await
                }
            }
        }
        claimed
    }

    /// Writes the answer to request `id`, attached to this leader's lease.
    pub async fn answer(&self, id: &str, answer: Answer) {
        let value = serde_json::to_vec(&answer).expect("an answer serialises");
        let _ = self
            .etcd()
            .txn(
                &[],
                &[Op::Put {
                    key: answer_key(self.settings(), id),
                    value,
                    lease: self.lease_id(),
                }],
                &[],
                self.request_timeout(),
            )
            .await;
    }
}
