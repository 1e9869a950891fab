from .blendmask import BlendMask

__all__ = ['BlendMask']
