//! RBAC's two pieces of the control plane: the bootstrap policy kube-apiserver installs at start
//! (its `rbac/bootstrap-roles` post-start hook: `cluster-admin`, `admin`, `edit`, `view`,
//! `system:basic-user`, ... and their bindings), and upstream's clusterrole-aggregation
//! controller, which fills an aggregated ClusterRole's rules from the ClusterRoles its
//! `aggregationRule` selects.

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::{Action, Controller, ControllerError, Key, settle};
use crate::cluster::objects::rbac::{bootstrap_cluster_role_bindings, bootstrap_cluster_roles};
use crate::cluster::objects::{ClusterRole, Kind, Object, PolicyRule};
use crate::cluster::store::{Change, ObjectKey, Store, StoreError, Stored};

/// Creates the bootstrap ClusterRoles and ClusterRoleBindings that are missing, once at start
/// (upstream reconciles them at each apiserver start too; one deleted later stays deleted until
/// the next start, as there).
#[derive(Debug, Default)]
pub struct BootstrapPolicy;

impl Controller for BootstrapPolicy {
    fn name(&self) -> &'static str {
        "rbac_bootstrap"
    }

    fn component(&self) -> &'static str {
        "rbac-bootstrap"
    }

    fn watches(&self) -> &'static [Kind] {
        &[]
    }

    fn initial_keys(&self) -> Vec<Key> {
        vec![Key::Periodic]
    }

    fn triggers(&mut self, _change: &Change, _store: &Store, _now: Millis, _out: &mut Vec<Key>) {}

    fn reconcile(&mut self, _key: &Key, ctx: &mut Context) -> Result<Action, ControllerError> {
        let mut retry = None;
        for role in bootstrap_cluster_roles() {
            retry = retry.or(create_missing(ctx, role)?);
        }
        for binding in bootstrap_cluster_role_bindings() {
            retry = retry.or(create_missing(ctx, binding)?);
        }
        Ok(Action::requeue_at(ctx.now, retry))
    }
}

fn create_missing<R: Stored>(ctx: &mut Context, object: R) -> Result<Option<Millis>, ControllerError> {
    let key = ObjectKey::cluster(object.meta().name.clone());
    if ctx.store.get::<R>(&key).is_some() {
        return Ok(None);
    }
    let created = match ctx.store.create(object, ctx.now) {
        Err(StoreError::AlreadyExists { .. }) => Ok(()),
        other => other.map(drop),
    };
    settle(created, R::KIND, &key, ctx.now)
}

/// Upstream's clusterrole-aggregation controller.
#[derive(Debug, Default)]
pub struct ClusterRoleAggregation;

impl Controller for ClusterRoleAggregation {
    fn name(&self) -> &'static str {
        "clusterrole_aggregation"
    }

    fn component(&self) -> &'static str {
        "clusterrole-aggregation-controller"
    }

    fn watches(&self) -> &'static [Kind] {
        &[Kind::ClusterRole]
    }

    /// Any ClusterRole change may change what an aggregated role selects: every aggregated role
    /// is due (a handful, as upstream enqueues them all).
    fn triggers(&mut self, change: &Change, store: &Store, _now: Millis, out: &mut Vec<Key>) {
        if let Object::ClusterRole(_) = &change.object {
            out.extend(
                store
                    .list::<ClusterRole>()
                    .filter(|r| r.aggregation_rule.is_some())
                    .map(|r| Key::Object(ObjectKey::cluster(r.metadata.name.clone()))),
            );
        }
    }

    fn reconcile(&mut self, key: &Key, ctx: &mut Context) -> Result<Action, ControllerError> {
        let key = key.object(self.name())?;
        let Some(role) = ctx.store.get::<ClusterRole>(key) else { return Ok(Action::await_change()) };
        let Some(aggregation) = &role.aggregation_rule else { return Ok(Action::await_change()) };
        let rules = aggregate(ctx.store, &role.metadata.name, aggregation);
        if rules == role.rules {
            return Ok(Action::await_change());
        }
        let written = ctx.store.modify::<ClusterRole>(key, |r| r.rules = rules);
        Ok(Action::requeue_at(ctx.now, settle(written, Kind::ClusterRole, key, ctx.now)?))
    }
}

/// The rules of every other ClusterRole a selector matches, selector by selector and role by
/// name, each rule once (upstream's `ruleExists` keeps the first).
fn aggregate(
    store: &Store,
    name: &str,
    aggregation: &crate::cluster::objects::rbac::AggregationRule,
) -> Vec<PolicyRule> {
    let mut rules: Vec<PolicyRule> = Vec::new();
    for selector in &aggregation.cluster_role_selectors {
        // The store lists in key order, which is name order for a cluster-scoped kind.
        for other in
            store.list::<ClusterRole>().filter(|r| r.metadata.name != name && selector.matches(&r.metadata.labels))
        {
            for rule in &other.rules {
                if !rules.contains(rule) {
                    rules.push(rule.clone());
                }
            }
        }
    }
    rules
}

/// Whether a ClusterRoleBinding exists (a small helper the tests below share).
#[cfg(test)]
fn binding_exists(store: &Store, name: &str) -> bool {
    store.get::<crate::cluster::objects::ClusterRoleBinding>(&ObjectKey::cluster(name)).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::controllers::harness::Harness;

    /// Runs the aggregation controller until nothing it is triggered by is left.
    fn settle_aggregation(h: &mut Harness, since: u64) {
        let mut controller = ClusterRoleAggregation;
        let mut since = since;
        for _ in 0..10 {
            let due = h.triggered(&mut controller, since);
            if due.is_empty() {
                return;
            }
            since = h.store.resource_version();
            for key in due {
                h.run(&mut controller, &key);
            }
        }
        panic!("aggregation did not settle");
    }

    fn rules_of(h: &Harness, name: &str) -> Vec<PolicyRule> {
        h.store.get::<ClusterRole>(&ObjectKey::cluster(name)).unwrap().rules.clone()
    }

    #[test]
    fn the_bootstrap_policy_aggregates_view_into_edit_into_admin() {
        let mut h = Harness::new();
        h.run(&mut BootstrapPolicy, &Key::Periodic);
        assert!(binding_exists(&h.store, "cluster-admin"));
        assert!(rules_of(&h, "view").is_empty(), "aggregated roles start empty");
        settle_aggregation(&mut h, 0);
        let (view, edit, admin) = (rules_of(&h, "view"), rules_of(&h, "edit"), rules_of(&h, "admin"));
        assert_eq!(view, rules_of(&h, "system:aggregate-to-view"));
        assert!(view.iter().all(|r| edit.contains(r)), "edit includes view");
        assert!(edit.iter().all(|r| admin.contains(r)), "admin includes edit");
        assert!(admin.len() > edit.len() && edit.len() > view.len());
        // A second bootstrap pass writes nothing.
        h.run(&mut BootstrapPolicy, &Key::Periodic);
        assert!(h.writes().is_empty());
    }

    #[test]
    fn a_new_labelled_role_joins_the_aggregate_and_leaves_with_its_label() {
        let mut h = Harness::new();
        h.run(&mut BootstrapPolicy, &Key::Periodic);
        settle_aggregation(&mut h, 0);
        let since = h.store.resource_version();
        let mut widgets = ClusterRole::default();
        widgets.metadata.name = "widgets-view".into();
        widgets.metadata.labels.insert("rbac.authorization.k8s.io/aggregate-to-view".into(), "true".into());
        widgets.rules.push(PolicyRule::resources(&["get"], &["example.com"], &["widgets"]));
        h.seed(widgets.clone());
        settle_aggregation(&mut h, since);
        assert!(rules_of(&h, "view").contains(&widgets.rules[0]));
        assert!(rules_of(&h, "admin").contains(&widgets.rules[0]), "through edit into admin");

        let since = h.store.resource_version();
        h.store.modify::<ClusterRole>(&ObjectKey::cluster("widgets-view"), |r| r.metadata.labels.clear()).unwrap();
        settle_aggregation(&mut h, since);
        assert!(!rules_of(&h, "view").contains(&widgets.rules[0]));
        assert!(!rules_of(&h, "admin").contains(&widgets.rules[0]));
    }
}
