// name: schema/await_indexes
// answers: Wait until every index is online (after schema creation).
// params: timeout_s:int
CALL db.awaitIndexes($timeout_s)
