"""The Bloom perspective: structure of an exported perspective, every styled property is one
the store writes, every search phrase is a file in cypher/bloom/."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nifgraph import cypher
from nifgraph.records import NEURON_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
PERSPECTIVE = ROOT / "cypher" / "bloom" / "nifgraph_perspective.json"


@pytest.fixture(scope="module")
def persp():
    return json.loads(PERSPECTIVE.read_text(encoding="utf-8"))


def _set_props(name: str, var: str) -> set[str]:
    """Properties a store query sets one by one on variable ``var`` (``SET var.prop = …``)."""
    body = cypher._strip_comments(cypher.load(name).text)
    return set(re.findall(rf"\b{var}\.(\w+)\s*=", body))


def _written_props() -> dict[str, set[str]]:
    """Per label / relationship type: the property names the Neo4j store writes."""
    from nifgraph.store.neo4j_records import REL_PROPS
    from nifgraph.store.neo4j_records import model_props as _model_props
    from nifgraph.store.neo4j_records import run_props as _run_props

    from .store_fixtures import make_model, make_run

    model, _ = make_model()
    run, _ = make_run(model)
    neuron = {"neuron_id", *NEURON_COLUMNS} | _set_props("store/publish_analysis", "n")
    return {
        "Model": set(_model_props(model)) | {"seq"},
        "Run": set(_run_props(run)) | _set_props("store/complete_run", "r") | {"status", "analysis_id", "seq", "updated_ms"},
        "Neuron": neuron,
        "Feature": neuron,
        "Class": neuron,
        "Hidden": neuron,
        "NIF": {"run_id", *REL_PROPS},  # the other statistics are NIFColumns nodes (schema 2)
        "ATTRIBUTION": {"analysis_id", "run_id", "value"},
    }


def test_perspective_has_the_shape_of_an_export(persp):
    for key in ("categories", "name", "id", "labels", "relationshipTypes", "palette", "templates",
                "hiddenRelationshipTypes", "hiddenCategories", "metadata", "version"):
        assert key in persp, key
    names = [c["name"] for c in persp["categories"]]
    assert {"Model", "Neuron", "Feature", "Class", "Hidden"} <= set(names)
    # role categories come before the generic Neuron one (Bloom picks the first match)
    assert names.index("Feature") < names.index("Neuron") and names.index("Hidden") < names.index("Neuron")
    ids = [c["id"] for c in persp["categories"]]
    assert len(ids) == len(set(ids))
    for c in persp["categories"]:
        assert {"id", "name", "labels", "properties", "color", "size", "captionKeys", "styleRules"} <= set(c)
        assert set(persp["labels"]) >= set(c["labels"])


def _rules(persp):
    for c in persp["categories"]:
        for r in c["styleRules"]:
            yield c["labels"][0], r
    for t in persp["relationshipTypes"]:
        for r in t.get("styleRules", []):
            yield t["name"], r


def test_rule_based_styling(persp):
    rules = list(_rules(persp))
    hidden = [r for owner, r in rules if owner == "Hidden"]
    assert any(r["type"] == "range" and r["applySize"] and r["basedOn"] == "betweenness_number" for r in hidden)
    assert any(r["type"] == "unique" and r["applyColor"] and r["basedOn"] == "community_number" for r in hidden)
    nif = [r for owner, r in rules if owner == "NIF"]
    assert any(r["type"] == "range" and r["applySize"] and r["basedOn"] == "value_norm_number" for r in nif)


def test_every_styled_property_is_written_by_the_store(persp):
    written = _written_props()
    for owner, rule in _rules(persp):
        prop = rule["basedOn"].rsplit("_", 1)[0]
        assert prop in written[owner], f"{owner} is styled by {prop!r}, which the store never writes"
    for c in persp["categories"]:
        for p in c["properties"]:
            assert p["name"] in written[c["labels"][0]], (c["name"], p["name"])
    for t in persp["relationshipTypes"]:
        for p in t["properties"]:
            assert p["propertyKey"] in written[t["name"]], (t["name"], p["propertyKey"])


def test_search_phrases_are_the_bloom_cypher_files(persp):
    files = {q.name: q for q in cypher.all_queries() if q.name.startswith("bloom/")}
    assert len(persp["templates"]) == len(files) >= 6
    for t in persp["templates"]:
        q = files[f"bloom/{t['id'].removeprefix('tmpl:nifgraph-')}"]
        assert t["cypher"] == cypher._strip_comments(q.text).strip() + ";"
        assert sorted(p["name"] for p in t["params"]) == sorted(f"${p}" for p in q.params)
        for p in q.params:
            assert f"${p}" in t["text"], f"phrase {t['text']!r} does not mention ${p}"
        assert t["isUpdateQuery"] in (None, False)
