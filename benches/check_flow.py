#!/usr/bin/env python3
"""Checks the optimum of a min-cost flow instance written by `pinsetter bench --dump-flow FILE`
or `--dump-flow-mixed FILE` against networkx's network simplex (pip install networkx).

    pinsetter bench flow --quick --dump-flow-mixed /tmp/mixed.json
    python3 benches/check_flow.py /tmp/mixed.json

Prints both costs and exits 1 if they differ. Run by hand; not part of CI.
"""
import json
import sys

import networkx as nx


def main(path):
    with open(path) as f:
        instance = json.load(f)
    graph = nx.MultiDiGraph()
    for node in instance["nodes"]:
        # networkx's demand is the negative of a supply.
        graph.add_node(node["id"], demand=-node["supply"])
    for arc in instance["arcs"]:
        graph.add_edge(arc["from"], arc["to"], capacity=arc["capacity"], weight=arc["cost"])
    cost, _flow = nx.network_simplex(graph)
    ours = instance["cost"]
    print(f"{path}: {len(instance['nodes'])} nodes, {len(instance['arcs'])} arcs; "
          f"pinsetter cost {ours}, networkx {nx.__version__} network simplex cost {cost}: "
          f"{'agree' if cost == ours else 'DIFFER'}")
    return 0 if cost == ours else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: check_flow.py FILE (from pinsetter bench --dump-flow / --dump-flow-mixed)")
    sys.exit(main(sys.argv[1]))
