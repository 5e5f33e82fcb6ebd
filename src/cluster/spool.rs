//! The cluster's outage spool: a JetStream stream `<name>_spool` (file
//! storage, work-queue retention) where a node's writer puts the batches
//! PostgreSQL cannot take, before its own spool file — so those writes
//! outlive the node. One message per batch on `<name>.spool.<node>`, its
//! payload the spool file's lines ([`crate::store::spool`]), its
//! `Nats-Msg-Id` the writer's run id and the batch's first arrival number,
//! so a retried publish is stored once.
//!
//! Every node runs [`replay`]: one durable pull consumer (`replay`) shared by
//! all nodes, at most one message handed out at a time (`max_ack_pending`
//! 1), so the batches are applied in the order they were stored, by
//! whichever live node takes them; a message is acknowledged only after its
//! transaction commits, and one that cannot be applied yet (PostgreSQL still
//! down) is handed back. Applying is idempotent (`INSERT … ON CONFLICT (id)
//! DO NOTHING`, the end-of-call `UPDATE`), so a message redelivered after a
//! crash between commit and acknowledgement adds nothing.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::stream::{Config, RetentionPolicy, StorageType};
use async_nats::jetstream::{self, AckKind};
use futures_util::future::BoxFuture;
use futures_util::StreamExt as _;

use super::bus::subject_token;
use super::{Cluster, ClusterError};
use crate::store::db::Link;
use crate::store::spool::{self, ReplayReport, SharedSpool};
use crate::store::Pool;

/// The durable consumer every node replays through.
const CONSUMER: &str = "replay";
/// How long a message handed to a node may stay unacknowledged (a node that
/// died holding it) before another node gets it: 8 s, under the 10 s a
/// restarting node spends draining the spool, so a batch its previous run
/// died holding is replayed before it closes that run's calls.
const ACK_WAIT: Duration = Duration::from_secs(8);
/// How long one pull waits for a message: 500 ms.
const PULL_WAIT: Duration = Duration::from_millis(500);
/// How long a publish waits for the server's acknowledgement before the
/// writer falls back to its file: 2 s.
const PUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a replay waits for a pool connection: 1 s.
const REPLAY_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// This node's handle on the cluster spool; cheap to clone.
#[derive(Clone)]
pub struct StreamSpool {
    cluster: Cluster,
    js: jetstream::Context,
    stream: String,
    subject: String,
}

impl Cluster {
    /// Opens the cluster spool, creating the stream and its shared consumer
    /// when absent.
    ///
    /// # Errors
    /// [`ClusterError::Bucket`] when JetStream refuses the stream or consumer.
    pub async fn spool(&self) -> Result<StreamSpool, ClusterError> {
        let js = jetstream::new(self.client().clone());
        let stream = format!("{}_spool", self.inner.name);
        let refused = |e: &dyn std::fmt::Display| ClusterError::Bucket {
            bucket: stream.clone(),
            message: e.to_string(),
        };
        let created = js
            .get_or_create_stream(Config {
                name: stream.clone(),
                subjects: vec![self.subject(&["spool", ">"])],
                retention: RetentionPolicy::WorkQueue,
                storage: StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| refused(&e))?;
        created
            .get_or_create_consumer(CONSUMER, consumer_config())
            .await
            .map_err(|e| refused(&e))?;
        Ok(StreamSpool {
            cluster: self.clone(),
            js,
            subject: self.subject(&["spool", &subject_token(self.node_id())]),
            stream,
        })
    }
}

fn consumer_config() -> pull::Config {
    pull::Config {
        durable_name: Some(CONSUMER.to_string()),
        ack_policy: AckPolicy::Explicit,
        deliver_policy: DeliverPolicy::All,
        ack_wait: ACK_WAIT,
        max_ack_pending: 1,
        ..Default::default()
    }
}

impl StreamSpool {
    /// The stream's name, `<cluster name>_spool`.
    pub fn stream(&self) -> &str {
        &self.stream
    }
}

impl SharedSpool for StreamSpool {
    fn push(&self, id: String, lines: Vec<u8>) -> BoxFuture<'static, Result<(), String>> {
        let (js, subject) = (self.js.clone(), self.subject.clone());
        let mut headers = self.cluster.signed_headers(&subject, &lines);
        Box::pin(async move {
            headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
            let stored = async {
                js.publish_with_headers(subject, headers, lines.into())
                    .await
                    .map_err(|e| e.to_string())?
                    .await
                    .map_err(|e| e.to_string())
            };
            match tokio::time::timeout(PUSH_TIMEOUT, stored).await {
                Ok(Ok(_ack)) => Ok(()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(format!("no answer within {} ms", PUSH_TIMEOUT.as_millis())),
            }
        })
    }

    fn waiting(&self) -> BoxFuture<'static, Result<u64, String>> {
        let (js, stream) = (self.js.clone(), self.stream.clone());
        Box::pin(async move {
            let asked = async {
                let stream = js.get_stream(&stream).await.map_err(|e| e.to_string())?;
                Ok::<u64, String>(stream.cached_info().state.messages)
            };
            tokio::time::timeout(PUSH_TIMEOUT, asked)
                .await
                .unwrap_or_else(|_| Err("no answer".to_string()))
        })
    }
}

/// Replays the cluster spool into the database, forever: every `every`, the
/// batches waiting there, one at a time, in order; each acknowledged after
/// its transaction commits, or handed back (to be tried again) when the
/// database cannot take it yet. Counts what it applied on `link`.
pub async fn replay(spool: StreamSpool, pool: Pool, link: Arc<Link>, every: Duration) {
    let mut consumer = None;
    loop {
        tokio::time::sleep(every).await;
        if consumer.is_none() {
            consumer = match spool.js.get_stream(&spool.stream).await {
                Ok(stream) => stream
                    .get_or_create_consumer::<pull::Config>(CONSUMER, consumer_config())
                    .await
                    .map_err(|e| log::debug!("cluster spool: consumer unavailable: {e}"))
                    .ok(),
                Err(e) => {
                    log::debug!("cluster spool: stream unavailable: {e}");
                    None
                }
            };
        }
        let Some(pull) = consumer.as_ref() else {
            continue;
        };
        while let Some(applied) = replay_one(pull, &spool, &pool, every).await {
            link.replayed(applied as u64);
        }
    }
}

/// Replays what waits in the cluster spool now, for at most `within`: at
/// start-up, before the node closes the calls a previous run of it left
/// open, so rows of those calls still in the spool are closed too. Returns
/// the writes applied (0 when the spool is empty, unreachable, or another
/// node holds its head).
pub async fn drain(spool: &StreamSpool, pool: &Pool, within: Duration) -> usize {
    if matches!(spool.waiting().await, Ok(0) | Err(_)) {
        return 0;
    }
    let deadline = tokio::time::Instant::now() + within;
    let consumer = match spool.js.get_stream(&spool.stream).await {
        Ok(stream) => stream
            .get_or_create_consumer::<pull::Config>(CONSUMER, consumer_config())
            .await
            .ok(),
        Err(_) => None,
    };
    let Some(consumer) = consumer else {
        return 0;
    };
    let mut applied = 0;
    while tokio::time::Instant::now() < deadline {
        match replay_one(&consumer, spool, pool, Duration::from_secs(1)).await {
            Some(n) => applied += n,
            // Batches still waiting may be held by a node that died with
            // them: they come back after ACK_WAIT.
            None if matches!(spool.waiting().await, Ok(n) if n > 0) => {
                tokio::time::sleep(PULL_WAIT).await;
            }
            None => break,
        }
    }
    applied
}

/// Takes the next batch of the cluster spool and applies it; the writes
/// applied, or `None` when there was none or it could not be applied now.
async fn replay_one(
    consumer: &jetstream::consumer::Consumer<pull::Config>,
    spool: &StreamSpool,
    pool: &Pool,
    every: Duration,
) -> Option<usize> {
    let mut batch = match consumer
        .fetch()
        .max_messages(1)
        .expires(PULL_WAIT)
        .messages()
        .await
    {
        Ok(batch) => batch,
        Err(e) => {
            log::debug!("cluster spool: fetch failed: {e}");
            return None;
        }
    };
    let message = match batch.next().await {
        Some(Ok(message)) => message,
        Some(Err(e)) => {
            log::debug!("cluster spool: fetch failed: {e}");
            return None;
        }
        None => return None,
    };
    // Database writes: only a node of the cluster may have queued them.
    if let Err(why) = spool.cluster.inner.signer.check_stored(
        message.subject.as_str(),
        message.headers.as_ref(),
        &message.payload,
    ) {
        spool
            .cluster
            .inner
            .signer
            .dropped(message.subject.as_str(), why);
        let _ = message.ack_with(AckKind::Term).await;
        return Some(0);
    }
    let mut report = ReplayReport::default();
    let source = format!("{} message {}", spool.stream, message.subject);
    let writes = spool::decode(&message.payload, &source, &mut report);
    let pool = pool.clone();
    let applied = tokio::task::spawn_blocking(move || {
        spool::apply(&pool, writes, REPLAY_CONNECT_TIMEOUT, &mut report).map(|()| report)
    })
    .await;
    match applied {
        Ok(Ok(report)) => {
            if let Err(e) = message.double_ack().await {
                // Redelivered later and applied again: a no-op.
                log::debug!("cluster spool: acknowledgement lost ({e}); it will come again");
            }
            if report.rejected > 0 || report.corrupt > 0 {
                log::warn!(
                    "cluster spool: {} writes rejected for good, {} unreadable, dropped",
                    report.rejected,
                    report.corrupt
                );
            }
            Some(report.applied)
        }
        Ok(Err(e)) => {
            log::debug!("cluster spool: replay deferred: {e}");
            let _ = message.ack_with(AckKind::Nak(Some(every))).await;
            None
        }
        Err(e) => {
            log::warn!("cluster spool: replay task lost: {e}");
            let _ = message.ack_with(AckKind::Nak(Some(every))).await;
            None
        }
    }
}
