//! [`LogFeed`]: a client of switchboard's own live event feed (`GET /logs`), used
//! by the `call` CLI and integration tests to watch a call's [`CallEvent`]s.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use awc::ws::{self, Frame};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};

use super::{open_ws, ClientError};
use crate::events::CallEvent;

/// Listener for switchboard's live event feed (`GET /logs`): collects every
/// [`CallEvent`] (one JSON text frame each). Dropping it closes the socket.
pub struct LogFeed {
    events: Rc<RefCell<Vec<CallEvent>>>,
    closed: Rc<RefCell<bool>>,
    changed: Rc<Notify>,
    reader: JoinHandle<()>,
}

impl LogFeed {
    /// Connects to `url` (e.g. `ws://host/logs?call_sid=CA…`), sending
    /// `Authorization: Bearer <admin_token>` when a token is given. Errors as
    /// [`super::TwilioCall::connect`].
    pub async fn connect(url: &str, admin_token: Option<&str>) -> Result<LogFeed, ClientError> {
        let framed = open_ws(url, &[], admin_token).await?;
        let (mut sink, mut stream) = framed.split();
        let events = Rc::new(RefCell::new(Vec::new()));
        let closed = Rc::new(RefCell::new(false));
        let changed = Rc::new(Notify::new());
        let (ev, cl, ch) = (Rc::clone(&events), Rc::clone(&closed), Rc::clone(&changed));
        let reader = actix_rt::spawn(async move {
            while let Some(frame) = stream.next().await {
                match frame {
                    Ok(Frame::Text(bytes)) => {
                        // Frames that are not a CallEvent (future kinds) are skipped.
                        if let Ok(event) = serde_json::from_slice::<CallEvent>(&bytes) {
                            ev.borrow_mut().push(event);
                            ch.notify_waiters();
                        }
                    }
                    Ok(Frame::Ping(p)) => {
                        let _ = sink.send(ws::Message::Pong(p)).await;
                    }
                    Ok(Frame::Close(_)) => {
                        let _ = sink.send(ws::Message::Close(None)).await;
                        break;
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            *cl.borrow_mut() = true;
            ch.notify_waiters();
        });
        Ok(LogFeed {
            events,
            closed,
            changed,
            reader,
        })
    }

    /// Every event received so far, in order.
    pub fn events(&self) -> Vec<CallEvent> {
        self.events.borrow().clone()
    }

    /// True once the server closed the feed.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// The first event (already received or arriving within `timeout`) matching
    /// `pred`; `None` on timeout or when the feed closes first.
    pub async fn wait_for(
        &self,
        pred: impl Fn(&CallEvent) -> bool,
        timeout: Duration,
    ) -> Option<CallEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if let Some(found) = self.events.borrow().iter().find(|e| pred(e)) {
                return Some(found.clone());
            }
            if self.is_closed() {
                return None;
            }
            timeout_at(deadline, notified).await.ok()?;
        }
    }
}

impl Drop for LogFeed {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
