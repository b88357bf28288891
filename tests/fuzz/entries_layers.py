"""Per-layer fuzz entries (registered into :data:`tests.fuzz.registry.REGISTRY`)."""
