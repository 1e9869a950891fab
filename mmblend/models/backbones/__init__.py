from .resnet_dcn_interval import ResNetDCNInterval

__all__ = ['ResNetDCNInterval']
