# The sync engine's models (mapping rows, runs, logs) arrive with the engine.
