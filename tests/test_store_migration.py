"""Stores written by an earlier version still open: a DuckDB file of schema version 1 (no
pruning-decision columns) gains them on open, old analyses read back with their defaults,
and new analyses are written in full."""

from __future__ import annotations

import duckdb
import numpy as np

from nifgraph.records import NEURON_METRIC_COLUMNS
from nifgraph.store.duckdb import SCHEMA_VERSION, DuckDBStore

from .store_fixtures import make_analysis, store_analysed


def test_version_1_store_gains_the_new_columns(tmp_path):
    path = str(tmp_path / "old.duckdb")
    with DuckDBStore(path) as st:
        model, run = store_analysed(st)
    # turn the file back into version 1: drop the columns version 2 added
    con = duckdb.connect(path)
    con.execute("ALTER TABLE neuron_metrics DROP COLUMN candidate")
    con.execute("ALTER TABLE neuron_metrics DROP COLUMN accuracy_drop")
    con.execute("UPDATE schema_info SET value = '1'")
    con.close()
    with DuckDBStore(path, read_only=True) as ro:  # a read-only open reads old files as they are
        m = ro.get_analysis(run.run_id).neuron_metrics
        assert list(m.columns) == list(NEURON_METRIC_COLUMNS)
        assert not m["candidate"].any() and m["accuracy_drop"].isna().all()
    with DuckDBStore(path) as st:  # a writable open migrates
        con = duckdb.connect(path, read_only=True)
        assert con.execute("SELECT value FROM schema_info").fetchone()[0] == str(SCHEMA_VERSION)
        con.close()
        a = make_analysis(model, run)
        metrics = a.neuron_metrics.assign(candidate=True, accuracy_drop=0.25)
        st.put_analysis(type(a)(**{**a.__dict__, "neuron_metrics": metrics}))
        back = st.get_analysis(run.run_id).neuron_metrics
        assert back["candidate"].all() and np.allclose(back["accuracy_drop"], 0.25)
