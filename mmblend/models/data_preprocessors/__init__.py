from .gray_aware_det_data_preprocessor import GrayAwareDetDataPreprocessor

__all__ = ['GrayAwareDetDataPreprocessor']
