"""tether's compiler: orchestrator source -> checked, lowered state machine -> emitted module."""
