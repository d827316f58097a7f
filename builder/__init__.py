"""vmapp-build: offline-installable Azure VM Application packages, built with the distro's own tools."""

__version__ = "0.1.0"
