//! The `Roll` controller: a scripted throw (`pinsetter.dev/v1alpha1`, `kind: Roll`), declared.
//! The CRD is shipped in `assets/crds/roll.yaml` and installed in every lane at start
//! ([`definition`]), so `kubectl get rolls` works on a fresh game.

use crate::cluster::objects::Object;
use crate::scenario::ScenarioError;

/// The Roll CRD, embedded so every lane has it whatever the working directory.
pub const CRD_MANIFEST: &str = include_str!("../../../assets/crds/roll.yaml");
/// Where [`CRD_MANIFEST`] comes from, for error messages.
const CRD_ORIGIN: &str = "builtin:assets/crds/roll.yaml";
/// The CRD's name, `<plural>.<group>`: also the resource custom objects of it are stored under.
pub const CRD_NAME: &str = "rolls.pinsetter.dev";
pub const GROUP: &str = "pinsetter.dev";
pub const API_VERSION: &str = "pinsetter.dev/v1alpha1";
pub const KIND: &str = "Roll";

/// The Roll CRD as an object to apply.
pub fn definition() -> Result<Object, ScenarioError> {
    let mut documents = crate::scenario::parse_documents(CRD_MANIFEST, CRD_ORIGIN)?;
    match documents.pop() {
        Some((_, crd @ Object::CustomResourceDefinition(_))) if documents.is_empty() => Ok(crd),
        _ => Err(ScenarioError::Invalid {
            origin: CRD_ORIGIN.into(),
            document: 1,
            kind: "CustomResourceDefinition".into(),
            name: CRD_NAME.into(),
            message: "expected exactly one CustomResourceDefinition".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::objects::CustomResourceDefinition;
    use crate::cluster::store::ObjectKey;
    use crate::cluster::timing::Preset;
    use crate::scenario::Scenario;
    use crate::world::World;

    #[test]
    fn every_lane_starts_with_the_roll_crd_established() {
        let world = World::new(1, Preset::Arcade, &Scenario::resolve("tiny").unwrap()).unwrap();
        let key = ObjectKey::cluster(CRD_NAME);
        let crd = world.cluster().store.get::<CustomResourceDefinition>(&key).expect("installed at start");
        assert!(crd.is_established(), "{:?}", crd.status);
        assert_eq!(crd.spec.names.kind, KIND);
    }
}
