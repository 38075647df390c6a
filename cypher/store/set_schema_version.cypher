// name: store/set_schema_version
// answers: Record the schema version of the database's nifgraph data (never lowers it).
// params: version:int
MERGE (v:NifgraphSchema {name: 'nifgraph'})
SET v.version = CASE WHEN v.version IS NULL OR v.version < $version THEN $version ELSE v.version END
RETURN v.version AS version
