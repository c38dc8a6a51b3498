"""The bottom layer: parameter validation, work limits, code fingerprints, devices and threads."""
