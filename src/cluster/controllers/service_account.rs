//! The serviceaccounts controller (upstream `pkg/controller/serviceaccount`): every namespace has
//! a `default` ServiceAccount, made again if it is deleted, so a pod (or `kubectl create token
//! default`) always has an identity to use.

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::admission::NAMESPACES;
use crate::cluster::controllers::{Action, Controller, ControllerError, Key, settle};
use crate::cluster::objects::{Kind, Object, ObjectMeta, ServiceAccount};
use crate::cluster::store::{Change, ChangeType, ObjectKey, Store};

#[derive(Debug, Default)]
pub struct ServiceAccountsController;

impl Controller for ServiceAccountsController {
    fn name(&self) -> &'static str {
        "serviceaccount"
    }

    fn component(&self) -> &'static str {
        "service-account-controller"
    }

    fn watches(&self) -> &'static [Kind] {
        &[Kind::ServiceAccount]
    }

    /// Namespaces are fixed here, so each one's `default` account is due from the start.
    fn initial_keys(&self) -> Vec<Key> {
        NAMESPACES.iter().map(|ns| Key::Object(ObjectKey::new(*ns, ServiceAccount::DEFAULT))).collect()
    }

    /// Only the loss of a `default` account needs work.
    fn triggers(&mut self, change: &Change, _store: &Store, _now: Millis, out: &mut Vec<Key>) {
        if let Object::ServiceAccount(sa) = &change.object
            && change.type_ == ChangeType::Deleted
            && sa.metadata.name == ServiceAccount::DEFAULT
        {
            out.push(Key::Object(ObjectKey::of(&sa.metadata)));
        }
    }

    fn reconcile(&mut self, key: &Key, ctx: &mut Context) -> Result<Action, ControllerError> {
        let key = key.object(self.name())?;
        if ctx.store.get::<ServiceAccount>(key).is_some() || !NAMESPACES.contains(&key.namespace.as_str()) {
            return Ok(Action::await_change());
        }
        let account = ServiceAccount {
            metadata: ObjectMeta::namespaced(key.namespace.as_str(), key.name.as_str()),
            ..Default::default()
        };
        let created = match ctx.store.create(account, ctx.now) {
            // Someone made it first: as good.
            Err(crate::cluster::store::StoreError::AlreadyExists { .. }) => Ok(()),
            other => other.map(drop),
        };
        let retry = settle(created, Kind::ServiceAccount, key, ctx.now)?;
        Ok(Action::requeue_at(ctx.now, retry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::controllers::harness::Harness;
    use crate::cluster::store::ChangeType;

    #[test]
    fn every_namespace_gets_a_default_account_again_after_a_delete() {
        let mut h = Harness::new();
        let mut controller = ServiceAccountsController;
        let keys = controller.initial_keys();
        assert_eq!(keys.len(), NAMESPACES.len());
        for key in &keys {
            h.run(&mut controller, key);
        }
        for ns in NAMESPACES {
            assert!(h.store.get::<ServiceAccount>(&ObjectKey::new(ns, "default")).is_some(), "{ns}");
        }
        // Idempotent: a second pass writes nothing.
        h.run(&mut controller, &keys[0]);
        assert!(h.writes().is_empty());

        let before = h.store.resource_version();
        let key = ObjectKey::new("default", "default");
        h.store.delete::<ServiceAccount>(&key).unwrap();
        let due = h.triggered(&mut controller, before);
        assert_eq!(due, [Key::Object(key.clone())]);
        h.run(&mut controller, &due[0]);
        assert_eq!(
            h.writes().iter().map(|w| (w.type_, w.kind)).collect::<Vec<_>>(),
            [(ChangeType::Added, Kind::ServiceAccount)]
        );
    }
}
