// name: admin/show_indexes
// answers: Which indexes exist, and are they online?
// params: none
SHOW INDEXES YIELD name, state
RETURN name, state
