from .efficientnet_lite import EfficientNetLite
from .resnet_dcn_interval import ResNetDCNInterval

__all__ = ['EfficientNetLite', 'ResNetDCNInterval']
