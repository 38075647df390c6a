"""nifgraph.records: timestamps are fixed-width and ordered, so ``latest`` is the newest model
even when several are created within one second."""

from __future__ import annotations

from nifgraph.store import open_store

from .conftest import train_iris


def test_latest_is_the_newest_model_even_within_one_second():
    from nifgraph.records import now_iso

    stamps = [now_iso() for _ in range(3)]
    assert stamps == sorted(stamps) and len({len(s) for s in stamps}) == 1  # fixed width, ordered
    ids = [train_iris("--seed", str(s)) for s in range(3)]  # fast: usually within one second
    with open_store() as st:
        assert st.resolve("latest")[0].model_id == ids[-1]
        assert [m.model_id for m in st.list_models()] == ids
