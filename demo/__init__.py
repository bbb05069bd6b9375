"""What `make run` seeds: the demo organization and the wiring of the demo's stand-ins (the
Nuki Web stand-in, the on-site agent's simulated Bluetooth locks). The only app besides the
tests that may use any other app and the simulators."""
