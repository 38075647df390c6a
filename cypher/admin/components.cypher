// name: admin/components
// answers: Which Neo4j server version and edition is this?
// params: none
CALL dbms.components() YIELD name, versions, edition
RETURN name, versions[0] AS version, edition
