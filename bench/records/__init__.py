"""What is kept: the result schema and its upgrader, the sweep's store, `bench run`'s record files, the
environment stored with every result, and what a resumed sweep checks (dependencies, settings)."""
