"""The variants compared: a backend label turned into an artifact of a checkpoint (export, calibration), and its
parity with the eager fp32 reference of the same checkpoint."""
