"""Schema versions of the nifgraph data in a Neo4j database, and the migration on open.

=======  ===========================================================================================
version  how a run's edges are stored
=======  ===========================================================================================
1        every statistic on the ``NIF`` relationship (``run_id``, ``value``, ``relevance``,
         ``redundancy``, ``value_norm``, ``cost``, ``p_value``, ``q_value``, ``ci_low``,
         ``ci_high``); no ``NifgraphSchema`` node, no ``Run.edge_layout``
2        the relationship keeps ``run_id``, ``value``, ``value_norm``, ``q_value`` (what Cypher, the
         GDS projections, Bloom and the named queries filter and sort on); the other statistics are
         columns on ``(:NIFColumns {run_id, seq})`` nodes, one per write batch, keyed by the edges'
         ends, a column left out when it equals its default (``neo4j_records.default_column``).
         ``Run.edge_layout = 2``; ``(:NifgraphSchema {name: 'nifgraph', version: 2})``
=======  ===========================================================================================

Writing eight double properties per relationship took four to five property records per edge and
capped transactional writes near 30-40k edges/s on a 2-core machine; see docs/neo4j.md.

The first statement a :class:`~nifgraph.store.neo4j.Neo4jStore` runs checks the version
(``store/schema_state``). A database written by a newer nifgraph is refused; runs of version 1 are
migrated one at a time, each crash-safe and idempotent (two processes migrating at once write the
same nodes):

1. read the run's edges with every statistic (``store/old_run_edges``), sorted by their ends;
2. write its ``NIFColumns`` nodes (``store/put_columns``, MERGE on ``(run_id, seq)``) and delete any
   of a higher ``seq`` an earlier attempt left;
3. set ``Run.edge_layout = 2`` -- the commit point: from here on reads use the columns;
4. remove the moved properties from the relationships (``store/strip_edge_props``, in batches;
   repeating it is harmless).

A process killed before step 3 leaves the relationships untouched and the run is migrated again on
the next open; after step 3 only the clean-up of step 4 is repeated.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..errors import StoreError, StoreUnavailableError
from .neo4j_records import COLUMN_PROPS, KEY_COLUMNS, REL_PROPS, column_batches

__all__ = ["SCHEMA_VERSION", "EDGE_LAYOUT", "check_schema", "migrate_run"]

#: The schema version this nifgraph writes and reads.
SCHEMA_VERSION = 2
#: ``Run.edge_layout`` of a run written now.
EDGE_LAYOUT = 2


def check_schema(store: Any) -> int | None:
    """Refuse a newer database, migrate runs of version 1; returns the recorded version
    (``None`` when the database has none yet: nothing of nifgraph's, or only version-1 data that
    was migrated just now and recorded)."""
    rows = store.query("store/schema_state")
    if not rows:
        return None
    state = rows[0]
    newest = max([int(state.get("version") or 0), *(int(x) for x in state.get("layouts") or ())])
    if newest > SCHEMA_VERSION:
        raise StoreUnavailableError(
            f"Neo4j at {store.uri} holds nifgraph data of schema version {newest}, which this nifgraph "
            f"(schema {SCHEMA_VERSION}) cannot read; upgrade nifgraph (pip install -U nifgraph)."
        )
    old = sorted(str(r) for r in state.get("old_runs") or ())
    if not old:
        return state.get("version")
    try:
        store.create_schema()
        for run_id in old:
            migrate_run(store, run_id)
        store._record_schema()
    except StoreUnavailableError:
        raise
    except StoreError as e:
        raise StoreError(
            f"Neo4j at {store.uri} holds {len(old)} run(s) written by an older nifgraph (schema 1) and moving them "
            f"to schema {SCHEMA_VERSION} failed ({e}); it needs write access: open the database once as a user "
            "that may write, e.g. `nifgraph db init`."
        ) from e
    return SCHEMA_VERSION


def migrate_run(store: Any, run_id: str) -> int:
    """Move one version-1 run's secondary statistics into ``NIFColumns`` nodes (steps 1-4 of the
    module docstring). Returns the number of edges."""
    cols = store._columns("store/old_run_edges", run_id=run_id)
    frame = pd.DataFrame({c: cols.get(c) or [] for c in (*KEY_COLUMNS, *REL_PROPS, *COLUMN_PROPS)})
    for c in KEY_COLUMNS:
        frame[c] = frame[c].astype("int64")
    for c in (*REL_PROPS, *COLUMN_PROPS):
        frame[c] = frame[c].astype("float64")
    frame = frame.sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)  # same batches every time
    n_batches = 0
    for batch in column_batches(frame, store.batch_size):
        store._write("store/put_columns", run_id=run_id, seq=batch["seq"], block=batch["block"])
        n_batches += 1
    store._drain("store/delete_run_columns", run_id=run_id, from_seq=n_batches, limit=store.batch_size)
    store._write("store/set_run_layout", run_id=run_id, edge_layout=EDGE_LAYOUT)
    store._drain("store/strip_edge_props", run_id=run_id, limit=store.batch_size)
    return len(frame)
