"""wormchip: C. elegans-inspired spiking circuits, from real wiring to Brian2 and Loihi/Lava.

Layering (one way only): worm_connectome → circuits (spec) → ir → backends / mappers → analysis → cli.
"""

__version__ = "0.1.0"
