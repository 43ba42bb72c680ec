from exec_helpers import clock, make_executor, world

__all__ = ["clock", "make_executor", "world"]
