"""xapisim: a XenAPI simulator that the official XenAPI SDK talks to over a real socket."""

__version__ = "0.1.0"
