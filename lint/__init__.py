"""tether's determinism rules, used by `tether lint` and by the compiler."""
