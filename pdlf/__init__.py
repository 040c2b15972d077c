"""pdlf: evolution strategies over the plasticity rules of spiking neural network agents."""

import os as _os

# Ray reads this once, when it is first imported (evotorch imports it too): a local Ray then binds
# to 127.0.0.1 and listens on loopback only. Set before anything below can import Ray.
_os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

__version__ = "0.1.0"
