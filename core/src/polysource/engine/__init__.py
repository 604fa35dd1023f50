"""Request pipeline stages: route, single-flight, attempt, batch, merge, execute."""
