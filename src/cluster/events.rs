//! The event recorder: every component reports what it did as a `core/v1` Event, the way
//! client-go's `EventRecorder` does, and the world's event log (and its digest) is built from them.

use super::objects::{Event, EventSource, Kind, ObjectMeta, ObjectReference};
use super::store::{ObjectKey, Store};
use crate::clock::Millis;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// Events kept in the store; older ones are deleted, as the API server's event TTL would.
const MAX_STORED_EVENTS: usize = 2_000;

/// One line of the event log: what `kubectl get events` shows, plus the game time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRecord {
    pub at: Millis,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub reason: &'static str,
    /// `pod/web-7d9f-x2b4c`, `node/pin-3`, as kubectl names objects.
    pub object: String,
    pub message: String,
    pub component: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct EventRecorder {
    /// Records not yet drained by the world.
    pending: VecDeque<EventRecord>,
    /// Stored event names in creation order, for the retention cap.
    stored: VecDeque<ObjectKey>,
    /// (involved uid, reason, message) → the stored event that repeats of it bump (`count`).
    aggregate: BTreeMap<(String, &'static str, String), ObjectKey>,
    counter: u64,
}

impl EventRecorder {
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        store: &mut Store,
        now: Millis,
        kind: Kind,
        involved: &ObjectMeta,
        type_: &'static str,
        reason: &'static str,
        message: String,
        component: &'static str,
    ) {
        let object = format!("{}/{}", kind.name().to_lowercase(), involved.name);
        self.pending.push_back(EventRecord { at: now, type_, reason, object, message: message.clone(), component });

        let aggregate_key = (involved.uid.clone(), reason, message.clone());
        if let Some(key) = self.aggregate.get(&aggregate_key)
            && store
                .modify::<Event>(key, |e| {
                    e.count += 1;
                    e.last_timestamp = Some(now.to_rfc3339());
                })
                .is_ok()
        {
            return;
        }
        self.counter += 1;
        // Node events use the node's name as uid: `kubectl describe node` looks them up that way.
        let uid = if kind == Kind::Node { involved.name.clone() } else { involved.uid.clone() };
        let namespace = involved.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into());
        let event = Event {
            metadata: ObjectMeta::namespaced(namespace, format!("{}.{:016x}", involved.name, self.counter)),
            involved_object: ObjectReference {
                kind: kind.name().into(),
                namespace: involved.namespace.clone().unwrap_or_default(),
                name: involved.name.clone(),
                uid,
                api_version: kind.api_version().into(),
            },
            reason: reason.into(),
            message,
            type_: type_.into(),
            count: 1,
            first_timestamp: Some(now.to_rfc3339()),
            last_timestamp: Some(now.to_rfc3339()),
            source: EventSource { component: component.into(), host: String::new() },
            reporting_component: component.into(),
            ..Default::default()
        };
        if let Ok(created) = store.create(event, now) {
            let key = ObjectKey::of(&created.metadata);
            self.aggregate.insert(aggregate_key, key.clone());
            self.stored.push_back(key);
        }
        while self.stored.len() > MAX_STORED_EVENTS {
            if let Some(old) = self.stored.pop_front() {
                self.aggregate.retain(|_, k| *k != old);
                let _ = store.delete::<Event>(&old);
            }
        }
    }

    pub fn drain(&mut self) -> impl Iterator<Item = EventRecord> + '_ {
        self.pending.drain(..)
    }
}
