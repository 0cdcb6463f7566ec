"""``torchvision.models.detection.generalized_rcnn.GeneralizedRCNN``: the transform ->
backbone -> RPN -> RoI heads pipeline shared by Faster and Mask R-CNN."""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional, Union

from rustorch import Tensor, nn

__all__ = ["GeneralizedRCNN"]


class GeneralizedRCNN(nn.Module):
    """torchvision's ``GeneralizedRCNN(backbone, rpn, roi_heads, transform)``.

    ``forward(images, targets=None)`` takes a list of ``[C, H, W]`` float images in
    ``[0, 1]`` (sizes may differ). In training mode ``targets`` (one dict per image with
    ``boxes`` ``[N, 4]`` and ``labels``, plus ``masks`` for Mask R-CNN) is required and
    the loss dict is returned (RoI-head losses first, then the RPN's); in eval mode one
    dict of detections per image is returned, in the original image coordinates.
    Invalid targets raise ``AssertionError`` with torchvision's messages.
    """

    def __init__(self, backbone: nn.Module, rpn: nn.Module, roi_heads: nn.Module,
                 transform: nn.Module) -> None:
        super().__init__()
        self.transform = transform
        self.backbone = backbone
        self.rpn = rpn
        self.roi_heads = roi_heads
        self._has_warned = False  # torchvision's TorchScript warning flag, kept for parity

    def eager_outputs(
        self, losses: dict[str, Tensor], detections: list[dict[str, Tensor]]
    ) -> Union[dict[str, Tensor], list[dict[str, Tensor]]]:
        return losses if self.training else detections

    def forward(
        self, images: list[Tensor], targets: Optional[list[dict[str, Tensor]]] = None
    ) -> Union[dict[str, Tensor], list[dict[str, Tensor]]]:
        if self.training:
            if targets is None:
                raise AssertionError("targets should not be none when in training mode")
            for target in targets:
                boxes = target["boxes"]
                if not isinstance(boxes, Tensor):
                    raise AssertionError(
                        f"Expected target boxes to be of type Tensor, got {type(boxes)}.")
                if not (boxes.dim() == 2 and boxes.shape[-1] == 4):
                    raise AssertionError("Expected target boxes to be a tensor of shape [N, 4], "
                                         f"got {tuple(boxes.shape)}.")

        original_image_sizes: list[tuple[int, int]] = []
        for img in images:
            if img.dim() < 2:
                raise AssertionError("expecting the last two dimensions of the Tensor to be H "
                                     f"and W instead got {tuple(img.shape[-2:])}")
            original_image_sizes.append((int(img.shape[-2]), int(img.shape[-1])))

        image_list, targets = self.transform(images, targets)

        if targets is not None:
            for target_idx, target in enumerate(targets):
                boxes = target["boxes"]
                degenerate = boxes[:, 2:] <= boxes[:, :2]
                if degenerate.any():
                    bb_idx = int(degenerate.any(dim=1).nonzero()[0, 0])
                    raise AssertionError(
                        "All bounding boxes should have positive height and width. Found "
                        f"invalid box {boxes[bb_idx].tolist()} for target at index {target_idx}.")

        features = self.backbone(image_list.tensors)
        if isinstance(features, Tensor):
            features = OrderedDict([("0", features)])
        proposals, proposal_losses = self.rpn(image_list, features, targets)
        detections, detector_losses = self.roi_heads(features, proposals, image_list.image_sizes,
                                                     targets)
        detections = self.transform.postprocess(detections, image_list.image_sizes,
                                                original_image_sizes)
        losses: dict[str, Tensor] = {}
        losses.update(detector_losses)
        losses.update(proposal_losses)
        return self.eager_outputs(losses, detections)
