//! smstrigger host.
