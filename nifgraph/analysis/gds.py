"""Analysis of a stored run inside Neo4j, through the Graph Data Science Python client.

The same quantities as :func:`nifgraph.analysis.local.analyze` (the local engine, igraph + numpy),
computed where the data lives:

* **betweenness** -- ``gds.betweenness.stream`` on a directed projection of the run weighted
  by ``cost = 1 - ln(value / max value of its layer pair)``, zero edges dropped: GDS reads
  weights as costs, so shortest paths are the paths of largest NIF product (1/w would rank
  paths by a sum of reciprocals). The same cost as the local engine hands igraph: GDS
  betweenness needs positive weights (its Dijkstra loses equal-cost paths through zero-cost
  edges), and in a layered net the constant shift changes no shortest path. Above
  :data:`SAMPLE_ABOVE_EDGES` kept edges, ``samplingSize`` = :data:`SAMPLING_SIZE` source
  neurons (seeded): an estimate, said in the notes.
* **communities** -- on an undirected projection weighted by the raw NIF value: GDS Louvain
  has no resolution parameter, so γ = 1 runs ``gds.louvain`` and any other γ runs
  ``gds.leiden`` with ``gamma`` (Leiden requires an undirected graph). Modularity is then
  computed at γ from per-community sums aggregated in Cypher, so it means the same as the
  local engine's.
* **attribution** -- ``mats[0] @ mats[1] @ …`` as one Cypher aggregation per layer step
  (``cypher/gds/attribution_step.cypher``); for a DAG model (CNN, residual blocks) one
  aggregation per layer in topological order over every layer feeding it, skip edges included
  (``cypher/gds/dag_attribution_step.cypher``): the path sums of
  :func:`nifgraph.flowgraph.dag_path_sums`. No path is ever expanded.

DAG models: the projection's cost is taken per (source layer, target layer) pair, as the
local DAG engine's (:mod:`nifgraph.analysis.dag_flow`); betweenness, communities, flows and
the prunable rule need nothing else.
* **flows / prunable** -- per-neuron sums and maxima aggregated in Cypher; the pruning rule is
  the local one.

Projections filter one model and one run inside the projection query and are always
dropped (``finally``), also when an algorithm fails. Before projecting, the server's GDS
version is checked against the client's supported minimum, and GDS's own memory estimate for
the run is checked against the server's free heap: each fails with one line and the fix. Without GDS on the server,
``engine="auto"`` falls back to the local engine and says so; ``engine="gds"`` raises
:class:`~nifgraph.errors.GdsMissingError`.
"""

from __future__ import annotations

import math
import uuid
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import GdsMissingError, StoreError, ValidationError
from ..records import ModelRecord, RunRecord
from ..settings import AnalysisSettings
from ..store.neo4j_admin import min_server_version, unsupported_server
from ..store.neo4j_runner import bind
from .local import Analysis, frozen, layer_offsets, prunable_mask, relabel

if TYPE_CHECKING:  # pragma: no cover
    from ..store.neo4j import Neo4jStore

__all__ = [
    "GDS_FIX", "SAMPLE_ABOVE_EDGES", "SAMPLING_SIZE", "gds_analysis", "connect", "estimate_memory",
    "min_server_version", "unsupported_server", "check_memory",
]

GDS_FIX = (
    "install the Graph Data Science plugin (NEO4J_PLUGINS='[\"graph-data-science\"]', see "
    "docker-compose.yml) or use --engine local"
)

#: Runs with more kept edges than this get sampled betweenness (exact Brandes costs one
#: Dijkstra per neuron, O(N * E log N): about 2 * 10^9 steps for a 10^6-edge run).
SAMPLE_ABOVE_EDGES = 250_000
#: Source neurons of sampled betweenness (``samplingSize``), drawn with the analysis seed.
SAMPLING_SIZE = 256


# -- connecting ------------------------------------------------------------------------
#: The client API this module is written against (``gds.graph.project.cypher(query, **params)``
#: for aggregation projections, snake_case keyword arguments, typed estimation results).
MIN_CLIENT = (2, 0)


def _client_version(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def connect(store: Neo4jStore) -> Any:
    """A ``GraphDataScience`` client on the store's own driver (Bolt only, no Arrow).

    Needs the ``graphdatascience`` 2.x client: 1.x has the same method names with other
    meanings (``gds.graph.project.cypher`` is the legacy procedure there, algorithm settings
    are camelCase), so an old client is refused up front with the fix; so is a server whose
    GDS is older than the client supports (:func:`unsupported_server`), instead of the
    client's DeprecationWarning."""
    import graphdatascience
    from graphdatascience import GraphDataScience

    have = str(getattr(graphdatascience, "__version__", "0"))
    if _client_version(have) < MIN_CLIENT:
        raise GdsMissingError(
            f"The graphdatascience Python client {have} is too old; nifgraph needs 2.0 or newer: "
            "pip install 'graphdatascience>=2.0,<3' (or use --engine local)."
        )
    version, reason = store.gds_version()
    if version is None:
        raise GdsMissingError(f"Neo4j at {store.uri} has no Graph Data Science ({reason}); {GDS_FIX}.")
    problem = unsupported_server(version)
    if problem:
        raise GdsMissingError(problem)
    return GraphDataScience(store.driver, database=store.database, arrow=False, show_progress=False)


def _project(gds: Any, name: str, **params: Any) -> Any:
    """Run the Cypher projection ``name`` (from ``cypher/gds``) and return the graph object."""
    q = bind(name, params)
    # graphdatascience 2.x: project.cypher(query, **params) runs a Cypher-aggregation projection
    # (the query ends in RETURN gds.graph.project(...)) and returns (Graph, result)
    graph, _result = gds.graph.project.cypher(q.text, **params)
    return graph


def _drop(gds: Any, graph_name: str) -> None:
    try:
        gds.graph.drop(graph_name, fail_if_missing=False)
    except Exception:  # pragma: no cover - best effort; the catalog is in memory only
        pass


# -- the GDS path ----------------------------------------------------------------------
def gds_analysis(
    store: Neo4jStore, run: RunRecord, model: ModelRecord, settings: AnalysisSettings, gds: Any = None
) -> tuple[Analysis, list[str]]:
    """The analysis of one stored run computed in the database (Neo4j store with GDS).

    ``settings`` must be resolved (:meth:`~nifgraph.settings.AnalysisSettings.resolved`).
    ``gds``: a client to use (tests pass a fake); by default one on the store's driver.
    Returns the :class:`~nifgraph.analysis.local.Analysis` and notes on what ran."""
    gamma, threshold, seed, alpha = settings.gamma, float(settings.threshold or 0.0), settings.seed, settings.alpha
    sizes = tuple(int(s) for s in model.layer_sizes)
    off = layer_offsets(sizes)
    n = int(off[-1])
    mid, rid = model.model_id, run.run_id
    notes: list[str] = []

    summary = store.query("gds/edge_summary", model_id=mid, run_id=rid, alpha=alpha)[0]
    if alpha is not None and int(summary["n_with_q"]) == 0:
        raise ValidationError(f"Run {rid} has no significance values; estimate with --null to use --alpha.")
    if int(summary.get("n_missing") or 0):  # as the local engine refuses NaN in its matrices
        raise ValidationError(
            f"Run {rid} has {int(summary['n_missing'])} edges with no NIF value (NaN): replace failed estimates "
            "by 0 (no information) before analysis."
        )

    in_flow, out_flow, prunable = _flows(store, mid, rid, alpha, off, n, threshold)
    inputs = [list(la["inputs"]) for la in model.meta["dag"]["layers"]] if model.is_dag else None
    attribution = _attribution(store, mid, rid, alpha, sizes, inputs)

    betweenness = np.zeros(n)
    membership = np.arange(n, dtype=np.int64)
    modularity = float("nan")
    if int(summary["n_kept"]) > 0:
        own = gds is None
        client = connect(store) if own else gds
        tag = uuid.uuid4().hex[:8]
        directed, undirected = f"nifgraph-{rid}-{tag}-dir", f"nifgraph-{rid}-{tag}-und"
        try:
            n_kept = int(summary["n_kept"])
            check_memory(store, client, n, n_kept)
            g = _project(client, "gds/project_directed", graph_name=directed, model_id=mid, run_id=rid, alpha=alpha)
            if n_kept > SAMPLE_ABOVE_EDGES and n > SAMPLING_SIZE:
                scores = client.betweenness.stream(
                    g, relationship_weight_property="cost", sampling_size=SAMPLING_SIZE, sampling_seed=int(seed)
                )
                notes.append(
                    f"betweenness: sampled from {SAMPLING_SIZE} of {n} source neurons (seed {seed}): "
                    f"the run keeps {n_kept:,} edges, more than {SAMPLE_ABOVE_EDGES:,}"
                )
            else:
                scores = client.betweenness.stream(g, relationship_weight_property="cost")
            props = client.graph.node_properties.stream(g, ["layer", "idx"])
            betweenness[_to_flat(props, off, scores["nodeId"])] = scores["score"].to_numpy(dtype=float)
            _drop(client, directed)

            u = _project(client, "gds/project_undirected", graph_name=undirected, model_id=mid, run_id=rid, alpha=alpha)
            if gamma == 1.0:
                comm = client.louvain.stream(u, relationship_weight_property="value", concurrency=1)
                notes.append("communities: GDS Louvain (gamma = 1; GDS Louvain has no resolution parameter)")
            else:
                comm = client.leiden.stream(
                    u, gamma=float(gamma), random_seed=int(seed), concurrency=1, relationship_weight_property="value"
                )
                notes.append(f"communities: GDS Leiden with gamma = {gamma} (GDS Louvain has no resolution parameter)")
            props_u = client.graph.node_properties.stream(u, ["layer", "idx"])
            raw = np.full(n, -1, dtype=np.int64)
            raw[_to_flat(props_u, off, comm["nodeId"])] = comm["communityId"].to_numpy(dtype=np.int64)
            lonely = raw < 0  # neurons without a non-zero edge: each alone in its community
            raw[lonely] = raw.max(initial=-1) + 1 + np.arange(int(lonely.sum()))
            membership = relabel(raw)
        finally:
            _drop(client, directed)
            _drop(client, undirected)
            if own:
                client.close()
        modularity = _modularity(store, mid, rid, alpha, membership, off, gamma)
    else:
        notes.append("the run has no non-zero edge: betweenness 0, every neuron its own community")

    analysis = Analysis(
        betweenness=frozen(betweenness),
        membership=frozen(membership),
        modularity=modularity,
        n_communities=int(membership.max()) + 1 if n else 0,
        attribution=frozen(attribution),
        in_flow=frozen(in_flow),
        out_flow=frozen(out_flow),
        prunable=frozen(prunable),
        gamma=float(gamma),
        threshold=float(threshold),
        seed=int(seed),
        sizes=sizes,
    )
    return analysis, notes


def _to_flat(props: Any, off: np.ndarray, node_ids: Any) -> np.ndarray:
    """Flat node ids (``offset[layer] + idx``) of the GDS node ids ``node_ids``.

    ``props`` are the projection's node properties (``nodeId``, ``layer``, ``idx``). GDS node
    ids are the database's node ids, which grow with the whole database; the lookup goes
    through the projection's ids sorted (``searchsorted``), so memory grows with the run only.

    Returns
    -------
    ndarray of int64, shape (len(node_ids),)
    """
    ids = props["nodeId"].to_numpy(dtype=np.int64)
    flat = off[props["layer"].to_numpy(dtype=np.int64)] + props["idx"].to_numpy(dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    ids, flat = ids[order], flat[order]
    want = np.asarray(node_ids, dtype=np.int64)
    pos = np.searchsorted(ids, want)
    found = pos < ids.size
    found[found] = ids[pos[found]] == want[found]
    if not found.all():
        raise StoreError(
            f"GDS returned {int((~found).sum())} node ids that are not in the projection; "
            "run the analysis again (the run changed while it was analysed?)."
        )
    return flat[pos]


def _flows(store: Neo4jStore, mid: str, rid: str, alpha: float | None, off: np.ndarray, n: int, threshold: float):
    rows = store.query("gds/neuron_flows", model_id=mid, run_id=rid, alpha=alpha)
    in_flow, out_flow, max_in, max_out = (np.zeros(n) for _ in range(4))
    dead = np.zeros(n, dtype=bool)
    for r in rows:
        i = int(off[int(r["layer"])] + int(r["idx"]))
        in_flow[i], out_flow[i] = float(r["in_flow"]), float(r["out_flow"])
        max_in[i], max_out[i] = float(r["max_in"]), float(r["max_out"])
        dead[i] = bool(r["dead"])
    return in_flow, out_flow, prunable_mask(off, dead, max_in, max_out, threshold)


def _attribution(
    store: Neo4jStore, mid: str, rid: str, alpha: float | None, sizes: tuple[int, ...],
    inputs: list[list[int]] | None = None,
) -> np.ndarray:
    """The sum over all paths of the product of NIF values, one Cypher aggregation per layer.

    ``state`` holds, per input feature, its score on every neuron of a layer (the rows of the
    running product), shape (n_0 * n_l,) in long form. A chain (``inputs`` None) steps
    ``mats[0] @ … @ mats[L-1]`` (``gds/attribution_step``); a DAG model (``inputs[b]``: the
    layers feeding layer ``b``, in topological order) gets every layer from all the layers that
    feed it, skips included (``gds/dag_attribution_step``): ``reach[b] = Σ_a reach[a] @ flow[(a, b)]``,
    as :func:`nifgraph.flowgraph.dag_path_sums`. A layer's rows are dropped once no later layer reads them."""
    reach = {0: [{"layer": 0, "feature_idx": i, "idx": i, "score": 1.0} for i in range(sizes[0])]}
    last_read = {a: b for b in range(1, len(sizes)) for a in (inputs[b] if inputs else [b - 1])}
    for b in range(1, len(sizes)):
        if inputs is None:
            rows = store.query("gds/attribution_step", model_id=mid, run_id=rid, alpha=alpha, layer=b - 1, state=reach[b - 1])
        else:
            state = [r for a in inputs[b] for r in reach.get(a, [])]
            rows = store.query("gds/dag_attribution_step", model_id=mid, run_id=rid, alpha=alpha, layer=b, state=state)
        reach[b] = [{"layer": b, "feature_idx": int(r["feature_idx"]), "idx": int(r["idx"]), "score": float(r["score"])}
                    for r in rows]
        for a in [a for a in reach if a < b and last_read.get(a, -1) <= b]:
            del reach[a]
    out = np.zeros((sizes[0], sizes[-1]))  # (n_0, n_L)
    for r in reach[len(sizes) - 1]:
        out[r["feature_idx"], r["idx"]] = r["score"]
    return out


def _modularity(store: Neo4jStore, mid: str, rid: str, alpha: float | None, membership: np.ndarray, off: np.ndarray, gamma: float) -> float:
    """Modularity at resolution γ of the undirected value-weighted graph:
    Q = Σ_c [ W_c / m − γ (K_c / 2m)² ] with W_c the weight inside c, K_c its total strength."""
    from ..records import neuron_key

    layer_of = np.repeat(np.arange(len(off) - 1), np.diff(off))
    mapping = {
        neuron_key(mid, int(layer_of[i]), int(i - off[layer_of[i]])): int(membership[i])
        for i in range(int(off[-1]))
    }
    rows = store.query("gds/community_strengths", model_id=mid, run_id=rid, alpha=alpha, membership=mapping)
    strength = np.array([float(r["strength"]) for r in rows])
    internal = np.array([float(r["internal"]) for r in rows])
    m = strength.sum() / 2.0
    if m <= 0:
        return float("nan")
    return float(np.sum(internal / m - gamma * (strength / (2.0 * m)) ** 2))


# -- memory estimation -----------------------------------------------------------------
def check_memory(store: Neo4jStore, client: Any, n_nodes: int, n_edges: int) -> None:
    """Refuse to project a run whose GDS memory estimate exceeds the server's free heap.

    The estimate is the larger of betweenness on the directed projection and Louvain on the
    undirected one (both include their graph; the directed one is dropped before the other
    is built), from the algorithms' ``.estimate`` on a fictive graph of the run's size (the
    lower bound, ``bytesMin``, so a run that may fit is never refused); the free heap is
    ``gds.systemMonitor``'s. Either one unavailable (an older GDS): no check."""
    est = estimate_memory(store, n_nodes, n_edges, gds=client, steps=("betweenness", "louvain"))
    need = max((int(e.get("bytes_min", 0)) for e in est.values() if isinstance(e, dict)), default=0)
    if not need:
        return
    try:
        rows = store.query("gds/system_monitor")
    except StoreError:
        return
    if not rows:
        return
    free, top = int(rows[0]["free_heap"]), int(rows[0]["max_heap"])
    if need > free:
        raise GdsMissingError(
            f"GDS needs about {_mib(need)} of heap for this run ({n_nodes:,} neurons, {n_edges:,} edges) "
            f"and the server has {_mib(free)} free of {_mib(top)}; raise NEO4J_HEAP (docker-compose.yml) "
            "or use --engine local."
        )


def _mib(n: int) -> str:
    return f"{math.ceil(n / 2**20):,} MiB"


def estimate_memory(
    store: Neo4jStore, n_nodes: int, n_relationships: int, *, gds: Any = None,
    steps: tuple[str, ...] = ("betweenness", "louvain", "leiden"),
) -> dict[str, Any]:
    """GDS memory estimates for one run of ``n_nodes`` neurons and ``n_relationships`` edges.

    Uses the algorithms' ``.estimate`` on a fictive graph (``nodeCount`` /
    ``relationshipCount``), so nothing is projected. Returns, per step, the required memory
    range as GDS reports it (``bytes_min``, ``bytes_max``, ``required_memory``)."""
    own = gds is None
    client = connect(store) if own else gds
    directed = {
        "nodeProjection": "*",
        "relationshipProjection": {"NIF": {"type": "NIF", "orientation": "NATURAL", "properties": ["cost", "value"]}},
        "nodeCount": int(n_nodes),
        "relationshipCount": int(n_relationships),
    }
    undirected = {
        "nodeProjection": "*",
        "relationshipProjection": {"NIF": {"type": "NIF", "orientation": "UNDIRECTED", "properties": ["value"]}},
        "nodeCount": int(n_nodes),
        "relationshipCount": int(n_relationships),
    }
    out: dict[str, Any] = {"nodes": int(n_nodes), "relationships": int(n_relationships)}
    try:
        calls = {
            "betweenness": lambda: client.betweenness.estimate(directed, relationship_weight_property="cost"),
            "louvain": lambda: client.louvain.estimate(undirected, relationship_weight_property="value"),
            "leiden": lambda: client.leiden.estimate(undirected, relationship_weight_property="value"),
        }
        for key in steps:
            call = calls[key]
            try:
                est = call()
                out[key] = {
                    "bytes_min": int(est.bytes_min),
                    "bytes_max": int(est.bytes_max),
                    "required_memory": str(est.required_memory),
                }
            except Exception as e:  # an older GDS may lack an estimate mode
                out[key] = {"error": str(e).splitlines()[0][:200]}
    finally:
        if own:
            client.close()
    return out
