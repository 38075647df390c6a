"""Analysis of NIF networks."""
