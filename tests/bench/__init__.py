"""bench/: the goals table's judgement and the profile's reading of py-spy samples, from given
figures."""
