from .base_basis import BaseBasisModule, build_semantic_targets
from .deeplabv3plus_basis import DeepLabV3PlusBasis
from .protonet_basis import ProtoNetBasis

__all__ = [
    'BaseBasisModule',
    'build_semantic_targets',
    'DeepLabV3PlusBasis',
    'ProtoNetBasis',
]
