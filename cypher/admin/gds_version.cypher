// name: admin/gds_version
// answers: Which Graph Data Science version is installed (fails when GDS is absent)?
// params: none
RETURN gds.version() AS version
