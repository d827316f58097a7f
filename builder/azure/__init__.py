"""Azure: the gallery resources, their limits and checks, the ARM/Bicep emitters, publishing and storage."""
