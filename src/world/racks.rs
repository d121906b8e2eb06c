//! Racks as pins: on a lane of more than ten nodes each of the game's ten pins stands for a rack,
//! a failure domain of many nodes, so a ball (or a chaos key) can fail a real cluster's worth of
//! nodes and every shell (game, sim, gRPC, Rolls) agrees on which.

use crate::cluster::scheduler::rack_order_key;
use std::collections::{BTreeMap, BTreeSet};

/// The label kubelets and cloud providers put a node's failure domain in.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Pins in the game's rack.
pub const PINS: usize = 10;

/// Which nodes each pin stands for. Built once with the lane; nodes joining later (pin agents)
/// belong to no rack.
#[derive(Debug, Clone, PartialEq)]
pub struct Racks {
    /// Pin 1 = index 0; each rack's nodes in rack order.
    members: Vec<Vec<String>>,
    /// The rack's name as the cards show it: the zone, or `rack-N` when split by order.
    names: Vec<String>,
    pin_of: BTreeMap<String, u8>,
}

impl Racks {
    /// Racks for `nodes` (in rack order), or `None` when every node is its own pin (ten or
    /// fewer). A lane whose nodes fall in exactly ten zones gets one rack per zone (zones in
    /// name order, `zone-2` before `zone-10`); any other lane is split evenly in rack order,
    /// since zones that are not ten cannot be ten pins.
    pub fn new<'a>(nodes: &[String], zone_of: impl Fn(&str) -> Option<&'a str>) -> Option<Racks> {
        if nodes.len() <= PINS {
            return None;
        }
        let zones: Option<Vec<&str>> = nodes.iter().map(|n| zone_of(n)).collect();
        let distinct: BTreeSet<&str> = zones.iter().flatten().copied().collect();
        let (members, names) = match zones {
            Some(zones) if distinct.len() == PINS => {
                let mut order: Vec<&str> = distinct.into_iter().collect();
                order.sort_by(|a, b| rack_order_key(a).cmp(&rack_order_key(b)));
                let mut members = vec![Vec::new(); PINS];
                for (node, zone) in nodes.iter().zip(&zones) {
                    let rack = order.iter().position(|z| z == zone).unwrap_or(0);
                    members[rack].push(node.clone());
                }
                (members, order.into_iter().map(str::to_string).collect())
            }
            _ => {
                let mut members = vec![Vec::new(); PINS];
                for (i, node) in nodes.iter().enumerate() {
                    members[i * PINS / nodes.len()].push(node.clone());
                }
                (members, (1..=PINS).map(|i| format!("rack-{i}")).collect())
            }
        };
        let pin_of = members
            .iter()
            .enumerate()
            .flat_map(|(i, rack)| rack.iter().map(move |n| (n.clone(), i as u8 + 1)))
            .collect();
        Some(Racks { members, names, pin_of })
    }

    /// The nodes of pin `pin` (1..=10); empty for any other number.
    pub fn nodes(&self, pin: u8) -> &[String] {
        usize::from(pin).checked_sub(1).and_then(|i| self.members.get(i)).map_or(&[], Vec::as_slice)
    }

    /// The rack's name: its zone, or `rack-N`.
    pub fn name(&self, pin: u8) -> &str {
        usize::from(pin).checked_sub(1).and_then(|i| self.names.get(i)).map_or("", String::as_str)
    }

    /// The pin (1..=10) whose rack holds `node`.
    pub fn pin_of(&self, node: &str) -> Option<u8> {
        self.pin_of.get(node).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("pin-{i}")).collect()
    }

    #[test]
    fn ten_nodes_or_fewer_are_their_own_pins() {
        assert_eq!(Racks::new(&names(10), |_| Some("z")), None);
    }

    #[test]
    fn ten_zones_are_ten_racks_in_zone_order() {
        let nodes = names(40);
        let zone: Vec<String> = (0..40).map(|i| format!("zone-{}", i % 10 + 1)).collect();
        let racks = Racks::new(&nodes, |n| {
            let i: usize = n.trim_start_matches("pin-").parse().unwrap();
            Some(zone[i - 1].as_str())
        })
        .unwrap();
        assert_eq!(racks.nodes(3), ["pin-3", "pin-13", "pin-23", "pin-33"]);
        assert_eq!(racks.name(10), "zone-10");
        assert_eq!(racks.pin_of("pin-20"), Some(10));
        assert!(racks.nodes(11).is_empty() && racks.nodes(0).is_empty());
    }

    #[test]
    fn other_lanes_split_evenly_in_rack_order() {
        // Three zones cannot be ten pins: the generated lanes' alley-1a/b/c split by order.
        let racks = Racks::new(&names(25), |_| Some("alley-1a")).unwrap();
        let sizes: Vec<usize> = (1..=10).map(|p| racks.nodes(p).len()).collect();
        assert_eq!(sizes, [3, 2, 3, 2, 3, 2, 3, 2, 3, 2]);
        assert_eq!(racks.nodes(1), ["pin-1", "pin-2", "pin-3"]);
        assert_eq!(racks.name(2), "rack-2");
        assert_eq!(racks.pin_of("pin-25"), Some(10));
    }
}
