"""A stand-in for a Cisco Finesse cluster (sides A and B sharing one CTI state), faithful enough that the
connector developed against it works against a real one. See ``../shared/FINESSE.md`` for the model."""
