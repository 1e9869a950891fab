from .det_tta_with_masks import DetTTAModelWithMasks

__all__ = ['DetTTAModelWithMasks']
