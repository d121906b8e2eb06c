//! apiextensions-apiserver's naming and establishing controllers, folded into one: a CRD's
//! names are accepted (nothing else here can claim them: the name `<plural>.<group>` is unique
//! in the store, and built-in kinds are in other groups) and the resource is established, so
//! `status` carries `NamesAccepted` and `Established` as upstream writes them. A deleted CRD's
//! objects are deleted with it (upstream's `customresourcecleanup` finalizer), so their
//! watchers see them go.

use super::{Action, Controller, ControllerError, Key, settle};
use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::objects::crd::established_status;
use crate::cluster::objects::{CustomObject, CustomResourceDefinition, Kind, Object, Resource};
#[cfg(test)]
use crate::cluster::store::ChangeType;
use crate::cluster::store::{Change, ObjectKey, Store};

#[derive(Debug, Default)]
pub struct CrdEstablishingController;

impl Controller for CrdEstablishingController {
    fn name(&self) -> &'static str {
        "crd_establishing"
    }

    fn component(&self) -> &'static str {
        "apiextensions-apiserver"
    }

    fn watches(&self) -> &'static [Kind] {
        &[Kind::CustomResourceDefinition]
    }

    fn triggers(&mut self, change: &Change, _store: &Store, _now: Millis, out: &mut Vec<Key>) {
        if let Object::CustomResourceDefinition(crd) = &change.object {
            out.push(Key::Object(ObjectKey::of(&crd.metadata)));
        }
    }

    fn reconcile(&mut self, key: &Key, ctx: &mut Context) -> Result<Action, ControllerError> {
        let key = key.object(self.name())?;
        let Some(crd) = ctx.store.get::<CustomResourceDefinition>(key) else {
            let orphans: Vec<ObjectKey> =
                ctx.store.range::<CustomObject>(CustomObject::range_of(&key.name)).map(Resource::key).collect();
            for orphan in orphans {
                let deleted = ctx.store.delete::<CustomObject>(&orphan);
                settle(deleted, Kind::CustomObject, &orphan, ctx.now)?;
            }
            return Ok(Action::await_change());
        };
        let now = ctx.store.epoch().stamp(ctx.now);
        let status = established_status(crd, &now);
        if status == crd.status {
            return Ok(Action::await_change());
        }
        let written = ctx.store.modify::<CustomResourceDefinition>(key, |c| c.status = status);
        let again = settle(written, Kind::CustomResourceDefinition, key, ctx.now)?;
        Ok(Action::requeue_at(ctx.now, again))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::controllers::harness::{Harness, Write};

    fn widgets() -> CustomResourceDefinition {
        let mut crd: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object"}}}]}
        }))
        .unwrap();
        crd.set_defaults();
        crd
    }

    #[test]
    fn a_new_definition_is_established_once_and_then_left_alone() {
        let mut h = Harness::new();
        let key = h.seed(widgets());
        let mut controller = CrdEstablishingController;
        assert_eq!(h.triggered(&mut controller, 0), [Key::Object(key.clone())]);
        h.run(&mut controller, &Key::Object(key.clone()));
        assert_eq!(
            h.writes(),
            [Write { type_: ChangeType::Modified, kind: Kind::CustomResourceDefinition, name: key.name.to_string() }]
        );
        let crd = h.store.get::<CustomResourceDefinition>(&key).unwrap();
        let conditions: Vec<(&str, &str, &str)> =
            crd.status.conditions.iter().map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str())).collect();
        assert_eq!(
            conditions,
            [("NamesAccepted", "True", "NoConflicts"), ("Established", "True", "InitialNamesAccepted")]
        );
        assert_eq!(crd.status.accepted_names.kind, "Widget");
        assert_eq!(crd.status.stored_versions, ["v1"]);
        // Level-triggered and idempotent: a second run writes nothing.
        h.now = Millis(5_000);
        h.run(&mut controller, &Key::Object(key));
        assert_eq!(h.writes(), []);
    }

    #[test]
    fn a_deleted_definition_takes_its_objects_and_no_others() {
        let mut h = Harness::new();
        let key = h.seed(widgets());
        let mut controller = CrdEstablishingController;
        h.run(&mut controller, &Key::Object(key.clone()));
        let mut other = widgets();
        other.metadata.name = "gadgets.example.com".into();
        other.spec.names.plural = "gadgets".into();
        other.spec.names.kind = "Gadget".into();
        let other_key = h.seed(other);
        h.run(&mut controller, &Key::Object(other_key.clone()));
        for (api_version, kind, name) in
            [("example.com/v1", "Widget", "a"), ("example.com/v1", "Widget", "b"), ("example.com/v1", "Gadget", "a")]
        {
            let object = crate::cluster::objects::Object::from_value(serde_json::json!({
                "apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": "default"}, "spec": {}
            }))
            .unwrap();
            let admitted = crate::cluster::objects::custom::admit(&h.store, object, true).unwrap();
            admitted.create_in(&mut h.store, h.now).unwrap();
        }
        h.store.delete::<CustomResourceDefinition>(&key).unwrap();
        h.run(&mut controller, &Key::Object(key));
        let deleted: Vec<(ChangeType, String)> = h.writes().into_iter().map(|w| (w.type_, w.name)).collect();
        assert_eq!(deleted, [(ChangeType::Deleted, "a".to_string()), (ChangeType::Deleted, "b".to_string())]);
        let left: Vec<&str> = h.store.list::<CustomObject>().map(|o| o.kind.as_str()).collect();
        assert_eq!(left, ["Gadget"]);
    }
}
