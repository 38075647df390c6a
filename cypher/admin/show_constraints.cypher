// name: admin/show_constraints
// answers: Which constraints exist?
// params: none
SHOW CONSTRAINTS YIELD name
RETURN name
